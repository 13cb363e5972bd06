"""The optimiser LLM's user messages: refine the prompt, reflect on errors, summarise the trajectory.

`refinement_prompt` lays out, in this order (wording is ours):

    1. the job: write a prompt that takes the place of <Prompt>
    2. past prompts with scores on a 0-100 scale, higher is better, worst first   (or a summary of them)
    3. the current prompt
    4. how the prompt is used (`placement_note`)
    5. fixed task examples as Input / <Prompt> / Output
    6. an analysis of the current prompt's errors                                 (reflection only)
    7. the instruction: generate a new prompt, or edit the current one
    8. "You may change up to N words."                                           (when there is a limit)
    9. wrap the prompt in <START> and <END>

Scores are shown as score * 100 with one decimal, so the text and the numbers agree (the official code
printed fractions under a 0-100 heading). On a retry the loop appends `retry_note(...)` to the same
message and asks again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from promptflux.optimizers.components.parsing import ParseFailure, parse_retry_note
from promptflux.optimizers.gpo.config import Refinement
from promptflux.optimizers.gpo.trajectory import TrajectoryEntry
from promptflux.tasks.base import Task

RetryReason = Literal["over_limit", "no_tags", "empty", "too_long", "unterminated"]

DEFAULT_PLACEMENT_NOTE = (
    "The prompt is placed after each question; the answer is compared with the reference."
)

_INSTRUCTIONS: dict[str, str] = {
    "generation": (
        "Look at the prompts above and their scores, work out what the better ones do differently, and "
        "write a new prompt that should score higher than all of them."
    ),
    "editing": (
        "Revise the current prompt so that it scores higher: keep the parts that help, and rewrite or "
        "remove the parts that do not."
    ),
}


def format_score(score: float) -> str:
    """A [0, 1] score on the 0-100 scale the meta-prompt promises, e.g. 0.4167 -> '41.7'."""
    return f"{score * 100:.1f}"


def _history(entries: Sequence[TrajectoryEntry]) -> str:
    """Prompts with their scores, lowest score first."""
    ordered = sorted(entries, key=lambda e: e.score)  # stable: callers' order among equal scores
    return "\n\n".join(f"Prompt: {e.prompt}\nScore: {format_score(e.score)}" for e in ordered)


def _examples(examples: Sequence[tuple[str, str]]) -> str:
    return "\n\n".join(f"Input: {x}\n<Prompt>\nOutput: {y}" for x, y in examples)


def limit_sentence(limit: int) -> str:
    word = "word" if limit == 1 else "words"
    return f"You may change up to {limit} {word}."


def refinement_prompt(
    style: Refinement,
    retrieved: Sequence[TrajectoryEntry],
    current: str,
    examples: Sequence[tuple[str, str]],
    limit: int | None = None,
    reflection: str | None = None,
    placement_note: str = DEFAULT_PLACEMENT_NOTE,
    *,
    summary: str | None = None,
) -> str:
    """The message asking for one better prompt. Pass `summary` (and no entries) under summarization."""
    if style not in _INSTRUCTIONS:
        raise ValueError(f"unknown refinement style {style!r}; choose from {', '.join(_INSTRUCTIONS)}")
    if summary is not None and retrieved:
        raise ValueError("pass either retrieved prompts or a summary of them, not both")
    if summary is None and not retrieved:
        raise ValueError("the meta-prompt needs retrieved prompts or a summary")
    sections = [
        "Your task is to write a prompt for a language model: the text that takes the place of <Prompt> "
        "in the examples below. A good prompt leads the model to the correct output for as many inputs "
        "as possible.",
    ]
    if summary is not None:
        sections.append(f"What earlier attempts taught us about this task:\n{summary.strip()}")
    else:
        sections.append(
            "Some of the prompts tried so far, each with its score from 0 to 100 (higher is better), "
            f"from the lowest score to the highest:\n\n{_history(retrieved)}"
        )
    sections.append(f"Current prompt:\n{current}")
    sections.append(f"How the prompt is used: {placement_note}")
    if examples:
        sections.append(f"Examples of the task:\n\n{_examples(examples)}")
    if reflection is not None:
        sections.append(f"Why the current prompt gets some examples wrong:\n{reflection.strip()}")
    closing = [_INSTRUCTIONS[style]]
    if limit is not None:
        closing.append(
            f"{limit_sentence(limit)} Changes are counted against the current prompt: each word added, "
            "removed or replaced counts as one."
        )
    closing.append("Write the new prompt between <START> and <END>, with nothing else between the tags.")
    sections.append(" ".join(closing))
    return "\n\n".join(sections)


def reflection_prompt(current: str, wrong: Sequence[tuple[str, str, str]]) -> str:
    """Ask why `current` failed on `wrong` = (input, model output, reference) triples; no new prompt."""
    if not wrong:
        raise ValueError("a reflection needs at least one wrongly answered example")
    cases = "\n\n".join(
        f"Example {i}\nInput: {x}\nModel output: {out}\nCorrect answer: {ref}"
        for i, (x, out, ref) in enumerate(wrong, start=1)
    )
    return (
        f"A language model was given the prompt below with each input.\n\nPrompt:\n{current}\n\n"
        f"It answered these examples wrongly:\n\n{cases}\n\n"
        "Explain briefly what in the prompt, or missing from it, led to these mistakes and what the "
        "prompt should do instead. Give the reasons only; do not write a new prompt."
    )


def summarization_prompt(entries: Sequence[TrajectoryEntry]) -> str:
    """Ask to condense the trajectory into a short summary of what worked, shown instead of the list."""
    if not entries:
        raise ValueError("there is nothing to summarise: the trajectory is empty")
    return (
        "Below are prompts that were tried for one task, each with its score from 0 to 100 (higher is "
        f"better), from the lowest score to the highest:\n\n{_history(entries)}\n\n"
        "Summarise in a few sentences what the higher-scoring prompts do that the lower-scoring ones do "
        "not, and what seems to hurt. Reply with the summary only."
    )


def retry_note(
    reason: RetryReason | ParseFailure,
    *,
    changed: int | None = None,
    limit: int | None = None,
    max_words: int | None = None,
) -> str:
    """One sentence appended to the meta-prompt when the previous reply had to be rejected.

    Parse failures get the shared notes (parsing.py); only the edit limit is GPO's own.
    """
    if reason == "over_limit":
        if changed is None or limit is None:
            raise ValueError("an over_limit note needs `changed` and `limit`")
        return (
            f"Your previous answer changed {changed} words of the current prompt; the limit is {limit}. "
            "Change fewer words."
        )
    try:
        return parse_retry_note(reason, max_words=max_words)
    except ValueError:
        raise ValueError(f"unknown retry reason {reason!r}") from None


def placement_note(task: Task) -> str:
    """Where the prompt goes, read from the task's template, so the optimiser is told the truth."""
    text = task.template.text
    where = "after" if text.find("{prompt}") > text.find("{input}") else "before"
    return f"The prompt is placed {where} each input; the model's answer is compared with the reference."
