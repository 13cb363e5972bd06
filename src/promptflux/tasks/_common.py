"""Pieces shared by the benchmark loaders: the question-answer template and option handling.

GPO places the instruction after the question in one user turn and judges a short final answer, so the
GPO-split tasks (BBH, MMLU, WSC) share `QA_TEMPLATE`: question, blank line, instruction, blank line,
"Answer:". The trailing "Answer:" asks an instruct model for the answer first, which matters because
generation is capped at 64 new tokens to keep prompt search affordable (GPO decodes up to 256 tokens
and then asks a second time for the final answer; we do one short round).
"""

from __future__ import annotations

import inspect

from promptflux.errors import ConfigError
from promptflux.tasks.base import GenerationTask, Template
from promptflux.types import SamplingParams

# GenerationTask's own default template, read from its signature so it never drifts from base.py.
GENERATION_TEMPLATE: Template = inspect.signature(GenerationTask.__init__).parameters["template"].default
QA_TEMPLATE = Template("{input}\n\n{prompt}\n\nAnswer:", chat=True)
QA_PARAMS = SamplingParams(max_new_tokens=64)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


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
