"""Append-only JSONL event log that survives a kill -9.

Each event is one line, written with a single `write` and flushed (and fsync'ed) before the call
returns. A process killed mid-write can leave at most one partial last line; readers skip it, and
`truncate_to` cuts the log back to a checkpoint's offset on resume so no event is recorded twice.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class EventLog:
    def __init__(self, path: str | Path, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab")  # noqa: SIM115 - held open for the run's lifetime

    def append(self, kind: str, **data: Any) -> None:
        record = {"kind": kind, "time": round(time.time(), 3), **data}
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=_jsonable) + "\n"
        self._file.write(line.encode())
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    @property
    def offset(self) -> int:
        """Byte length of the log: store it in a checkpoint to truncate back to on resume."""
        return self._file.tell()

    def truncate_to(self, offset: int) -> None:
        """Drop everything written after `offset` (events of a step the checkpoint does not include)."""
        self._file.flush()
        self._file.truncate(offset)
        self._file.seek(offset)

    def close(self) -> None:
        self._file.close()


def read_events(path: str | Path, kind: str | None = None) -> Iterator[dict[str, Any]]:
    """Events in order; a truncated last line (killed mid-write) is skipped."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                return  # partial final line
            event = json.loads(raw)
            if kind is None or event["kind"] == kind:
                yield event


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy / torch scalars and arrays
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"event field of type {type(value).__name__} is not JSON-serialisable")
