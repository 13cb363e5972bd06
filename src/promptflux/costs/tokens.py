"""Counting a request's prompt tokens without loading a model.

With the model's tokenizer on disk (an embedded model already converted, `hf:<folder>`, tiny-random's
SmolLM2 tokenizer) the count follows the transformers backend exactly: raw text with the tokenizer's
special tokens, or a chat turn through the chat template. Without one (HTTP backends, a model never
converted) it is an estimate: characters / 4, said as such wherever it is shown.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

CHARS_PER_TOKEN = 4


def _tokenizer_folder(spec: str) -> Path | None:
    from promptflux.models.embedded import EMBEDDED, converted_dir

    name = spec.split("@", 1)[0]
    if name.startswith("tiny-random"):
        name = "smollm2"  # tiny-random uses SmolLM2's tokenizer
    if name in EMBEDDED:
        folder = converted_dir(name)
    elif name.startswith("hf:"):
        folder = Path(name.removeprefix("hf:"))
    else:
        return None
    return folder if (folder / "tokenizer_config.json").is_file() else None


class _FastTokenizer:
    """tokenizer.json through the `tokenizers` library and the chat template through jinja2: the same
    ids as transformers' tokenizer (a test checks it) without importing transformers (~4 s)."""

    def __init__(self, folder: Path) -> None:
        import json

        import tokenizers

        self.backend = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        self.special = {k: config.get(k) for k in ("bos_token", "eos_token")}
        template = folder / "chat_template.jinja"
        text = template.read_text(encoding="utf-8") if template.is_file() else config.get("chat_template")
        self.chat_template = _compile(text) if isinstance(text, str) else None

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return self.backend.encode(text, add_special_tokens=add_special_tokens).ids

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        assert self.chat_template is not None
        return self.chat_template.render(messages=messages, add_generation_prompt=True, **self.special)


def _compile(text: str) -> Any:
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.globals["raise_exception"] = raise_exception
    return env.from_string(text)


@cache
def _load_tokenizer(folder: str) -> _FastTokenizer | None:
    try:
        return _FastTokenizer(Path(folder))
    except Exception:  # tokenizers and jinja2 raise plain Exceptions: an unusual tokenizer is estimated
        return None


class TokenCounter:
    """Prompt tokens of a request to the model `spec`: exact with its tokenizer, else an estimate."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        folder = _tokenizer_folder(spec)
        self.tokenizer = _load_tokenizer(str(folder)) if folder is not None else None

    @property
    def exact(self) -> bool:
        return self.tokenizer is not None

    @property
    def basis(self) -> str:
        if self.exact:
            return f"{self.spec}: counted with its tokenizer"
        return f"{self.spec}: estimated as characters / {CHARS_PER_TOKEN} (no tokenizer on disk)"

    def count(self, text: str, chat: bool = False, history: tuple[tuple[str, str], ...] = ()) -> int:
        """Tokens of `text` sent raw or (chat) as the last user turn after `history`, as the
        transformers backend renders it (models/hf.py `render`)."""
        from promptflux.models.base import chat_messages, plain_conversation

        tok = self.tokenizer
        if tok is None:
            extra = sum(len(u) + len(a) for u, a in history)
            return max(1, round((len(text) + extra) / CHARS_PER_TOKEN))
        if chat and tok.chat_template is not None:
            rendered = tok.render_chat(chat_messages(text, None, history))
            return len(tok.encode(rendered, add_special_tokens=False))
        if chat:
            text = plain_conversation(text, None, history)
        return len(tok.encode(text, add_special_tokens=True))

    def words(self, text: str) -> int:
        """Tokens of bare text (a reply, an instruction), without special tokens."""
        if self.tokenizer is None:
            return max(1, round(len(text) / CHARS_PER_TOKEN))
        return len(self.tokenizer.encode(text, add_special_tokens=False))
