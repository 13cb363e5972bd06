"""GPO as a registered method: the optimiser LLM and the target come from the run's model pool."""

from __future__ import annotations

from promptflux.optimizers.base import Method, MethodContext
from promptflux.optimizers.gpo.config import GPOConfig
from promptflux.optimizers.gpo.optimizer import GPOOptimizer
from promptflux.optimizers.proposals import shown_answer
from promptflux.tasks.base import Task


def build(context: MethodContext, config: GPOConfig) -> GPOOptimizer:
    task = context.task
    context.optimizer_llm()  # a missing or bad optimiser spec fails before the first step
    # GPO shows a few fixed examples; BBH ships GPO's own "format" examples for this.
    source = task.splits.get("format") or task.split(context.train_split)
    train = task.split(context.train_split)
    return GPOOptimizer(
        config,
        context.evaluator(),
        context.ask,
        train=train,
        dev=task.split(context.val_split),
        examples=[(ex.input, shown_answer(task, ex)) for ex in source[: config.task_examples]],
        placement_note=placement_note(task),
        demos=[(ex.input, shown_answer(task, ex)) for ex in train],
        events=context.events,
    )


def placement_note(task: Task) -> str:
    """Where the prompt goes, read from the task's template, so the optimiser is told the truth."""
    text = task.template.text
    where = "after" if text.find("{prompt}") > text.find("{input}") else "before"
    return f"The prompt is placed {where} each input; the model's answer is compared with the reference."


METHOD = Method(
    name="gpo",
    summary="LLM optimiser with trajectory retrieval and a decaying edit limit (Tang et al. 2025)",
    config=GPOConfig,
    build=build,
    uses=frozenset({"optimizer_model"}),
)
