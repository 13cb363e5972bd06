"""A run folder: create a new one, or reopen one to resume it."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
import yaml

from promptflux.errors import ConfigError
from promptflux.runs.events import EventLog

# A key is a secret when its last word is one of these: api_key, hf_token, password … but not
# max_new_tokens or api_key_env (which names the variable, not its value).
SECRET_KEY = re.compile(r"(^|_)(api_?key|key|token|secret|password|auth|credentials?)$", re.IGNORECASE)


def strip_secrets(config: dict[str, Any]) -> dict[str, Any]:
    """Drop any key that names a secret (at any depth); configs name env vars, never their values."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if SECRET_KEY.search(key):
            continue
        out[key] = strip_secrets(value) if isinstance(value, dict) else value
    return out


class RunFolder:
    CONFIG = "config.yaml"
    EVENTS = "events.jsonl"
    CHECKPOINT = "checkpoint"
    RESULT = "result.json"

    def __init__(self, path: Path, events: EventLog) -> None:
        self.path = path
        self.events = events

    @classmethod
    def create(cls, path: str | Path, config: dict[str, Any]) -> RunFolder:
        path = Path(path)
        if (path / cls.CONFIG).exists():
            raise ConfigError(f"run folder {path} already holds a run; resume it with --resume {path}")
        path.mkdir(parents=True, exist_ok=True)
        _atomic_write(path / cls.CONFIG, yaml.safe_dump(strip_secrets(config), sort_keys=False))
        return cls(path, EventLog(path / cls.EVENTS))

    @classmethod
    def open(cls, path: str | Path) -> RunFolder:
        path = Path(path)
        if not (path / cls.CONFIG).exists():
            raise ConfigError(f"{path} is not a run folder (no {cls.CONFIG}); check the --resume path")
        return cls(path, EventLog(path / cls.EVENTS))

    def config(self) -> dict[str, Any]:
        return yaml.safe_load((self.path / self.CONFIG).read_text())

    # ------------------------------------------------------------------ checkpoints

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Write `state` (torch-serialisable) with the event-log offset; replaces the last one atomically."""
        final = self.path / self.CHECKPOINT
        tmp = self.path / (self.CHECKPOINT + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        torch.save({**state, "event_offset": self.events.offset}, tmp / "state.pt")
        _fsync_dir(tmp)
        old = self.path / (self.CHECKPOINT + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        tmp.rename(final)  # the new checkpoint is complete before it takes the name
        _fsync_dir(self.path)
        shutil.rmtree(old, ignore_errors=True)

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The latest checkpoint (event log cut back to it), or None for a run that never checkpointed."""
        for name in (self.CHECKPOINT, self.CHECKPOINT + ".old"):  # .old: killed between the renames
            file = self.path / name / "state.pt"
            if file.exists():
                state = torch.load(file, weights_only=False)
                self.events.truncate_to(state["event_offset"])
                return state
        self.events.truncate_to(0)
        return None

    # ------------------------------------------------------------------ result

    def write_result(self, result: dict[str, Any]) -> None:
        _atomic_write(self.path / self.RESULT, json.dumps(result, indent=2, ensure_ascii=False))

    def result(self) -> dict[str, Any] | None:
        file = self.path / self.RESULT
        return json.loads(file.read_text()) if file.exists() else None

    def close(self) -> None:
        self.events.close()


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
