"""Pieces shared by the benchmark loaders: the question-answer template and option handling.

GPO places the instruction after the question in one user turn and judges a short final answer, so the
GPO-split tasks (BBH, MMLU, WSC) share `QA_TEMPLATE`: question, blank line, instruction, blank line,
"Answer:". The trailing "Answer:" asks an instruct model for the answer first, which matters because
generation is capped at 64 new tokens to keep prompt search affordable. That is rendering "qa", the
default. Rendering "gpo" is the paper's own scoring, at about twice the cost: question then instruction
in one user turn, a free greedy answer of up to 256 tokens, then a second user turn asking for the final
answer alone in the task's format, and only that reply is scored (`GenerationTask(answer_turn=...)`).
"""

from __future__ import annotations

import inspect
from typing import Any

from promptflux.errors import ConfigError
from promptflux.tasks.base import GenerationTask, Template
from promptflux.types import SamplingParams

# GenerationTask's own default template, read from its signature so it never drifts from base.py.
GENERATION_TEMPLATE: Template = inspect.signature(GenerationTask.__init__).parameters["template"].default
QA_TEMPLATE = Template("{input}\n\n{prompt}\n\nAnswer:", chat=True)
QA_PARAMS = SamplingParams(max_new_tokens=64)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

RENDERINGS = ("qa", "gpo")
# GPO rendering: no "Answer:" cue, the first round is free to reason before the answer turn.
GPO_TEMPLATE = Template("{input}\n\n{prompt}", chat=True)
GPO_FIRST_ROUND = SamplingParams(max_new_tokens=256)
GPO_ANSWER_PARAMS = SamplingParams(max_new_tokens=64)  # the final answer alone; BBH's longest is ~50 tokens
OPTION_FORMAT = "as the letter of the correct option in parentheses, for example (A)"
NUMBER_FORMAT = "as a single number"
GENERIC_FORMAT = "in the form the question asks for"


def answer_turn(answer_format: str) -> str:
    """The round-2 user message of the "gpo" rendering; `answer_format` reads "as ..." or "in ..."."""
    return f"Now give only your final answer, {answer_format}, with no explanation."


def rendering_options(
    name: str,
    rendering: str,
    *,
    qa_template: Template,
    qa_params: SamplingParams,
    answer_format: str,
    template: Template | str | None,
    first_round: SamplingParams | None,
) -> dict[str, Any]:
    """GenerationTask keyword arguments (template, params, answer_turn, first_round) for a `rendering=`.

    "qa" keeps the loader's one-round defaults; "gpo" is the two-round scoring of the module docstring.
    A `template=` option replaces the template of either rendering.
    """
    if rendering not in RENDERINGS:
        raise ConfigError(
            f"task {name!r}: unknown rendering {rendering!r}; choose one of: {', '.join(RENDERINGS)}"
        )
    if rendering == "qa":
        if first_round is not None:
            raise ConfigError(f"task {name!r}: first_round only applies to rendering='gpo'")
        return {"template": resolve_template(template, qa_template), "params": qa_params}
    return {
        "template": resolve_template(template, GPO_TEMPLATE),
        "params": GPO_ANSWER_PARAMS,
        "answer_turn": answer_turn(answer_format),
        "first_round": first_round if first_round is not None else GPO_FIRST_ROUND,
    }


def resolve_template(value: Template | str | None, default: Template) -> Template:
    """A `template=` option: a Template, a text with {prompt}/{input} (keeps the default's chat flag)."""
    if value is None:
        return default
    if isinstance(value, Template):
        return value
    if isinstance(value, str):
        if "{input}" not in value:
            raise ConfigError(f"template {value!r} has no {{input}} placeholder")
        return Template(value, chat=default.chat)
    raise ConfigError(f"template must be a Template or a string, got {type(value).__name__}")


def render_options(question: str, options: list[str] | tuple[str, ...]) -> str:
    """Question followed by one "(A) option" line per option, the layout GPO uses for MMLU and WSC."""
    return "\n".join([question, *(f"({letter}) {option}" for letter, option in zip(LETTERS, options))])


def no_seed(name: str, seed: int | None) -> None:
    """Fixed-split tasks take no data seed; saying so beats silently ignoring one."""
    if seed is not None:
        raise ConfigError(f"task {name!r} has fixed splits and takes no seed (only classification/custom do)")
