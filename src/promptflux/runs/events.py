"""Append-only JSONL event log that survives a kill -9.

Each event is one line (a typed event of event_types.py), written with a single `write` and flushed
(and fsync'ed) before the call returns. A process killed mid-write can leave at most one partial last
line; readers skip it, and `rewind` cuts the log back to a checkpoint's offset on resume so no event
is recorded twice.

`rewind` only ever shortens the log, and only at a line boundary of a log it can parse: a torn final
line (a kill, a full disk) is dropped; a log damaged anywhere else is refused with a one-line error and
left exactly as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from promptflux.errors import ConfigError, StorageError
from promptflux.runs.event_types import Event


class EventLog:
    def __init__(self, path: str | Path, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab")  # noqa: SIM115 - held open for the run's lifetime

    def append(self, kind: str, **data: Any) -> None:
        record = {"kind": kind, "time": round(time.time(), 3), **data}
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=_jsonable) + "\n"
        try:
            self._file.write(line.encode())
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())
        except OSError as e:  # e.g. a full disk: at most a torn last line, which resume drops
            raise StorageError(f"cannot append to {self.path}: {e.strerror}; free space and resume") from None

    def record(self, event: Event) -> None:
        """Append a typed event (see event_types.py)."""
        self.append(event.kind, **event.payload())

    @property
    def offset(self) -> int:
        """Byte length of the log: store it in a checkpoint to truncate back to on resume."""
        return self._file.tell()

    def truncate_to(self, offset: int) -> None:
        """Drop everything written after `offset` (events of a step the checkpoint does not include).

        Never lengthens the log: an offset past its end is an error, not zero padding."""
        self._file.flush()
        if offset > os.fstat(self._file.fileno()).st_size:
            raise ValueError(f"cannot truncate {self.path} to {offset} bytes: it is shorter")
        self._file.truncate(offset)
        self._file.seek(offset)

    def rewind(self, offset: int) -> int:
        """Cut the log back to `offset` (a checkpoint's), dropping a torn final line; returns the new end.

        When the intact log ends before `offset` (a truncated copy, a lost tail), it is cut to its intact
        end instead: the checkpoint is still whole, only the events in between are gone. An offset inside
        a line means the log is not the one the checkpoint was written with: refused, nothing written.
        """
        ends = intact_ends(self.path)
        end = ends[-1] if ends else 0
        if offset <= end and offset not in (0, *ends):
            raise ConfigError(
                f"{self.path} does not match the run's checkpoint (its offset {offset} falls inside a "
                f"line): the log was replaced or edited; not resuming"
            )
        self.truncate_to(min(offset, end))
        return min(offset, end)

    def close(self) -> None:
        with contextlib.suppress(OSError):  # a write that failed (full disk) was already reported
            self._file.close()


def intact_ends(path: str | Path) -> list[int]:
    """Byte offsets just past each intact event line; a torn final line is left out.

    A line that is not a JSON event and is not the last one means the log is damaged in the middle:
    a one-line ConfigError, since nothing after it can be trusted to be what was written.
    """
    return [end for _, end in _scan(Path(path))]


def read_events(path: str | Path, kind: str | None = None) -> Iterator[dict[str, Any]]:
    """Events in order; a torn last line (killed mid-write) is skipped, damage elsewhere is an error."""
    for event, _ in _scan(Path(path)):
        if kind is None or event["kind"] == kind:
            yield event


def _scan(path: Path) -> Iterator[tuple[dict[str, Any], int]]:
    if not path.exists():
        return
    with open(path, "rb") as f:
        offset, bad = 0, None
        for number, raw in enumerate(f, 1):
            if bad is not None:  # a damaged line with more after it
                raise ConfigError(
                    f"{path} line {bad} is not a JSON event and is not the last line: the log is "
                    f"damaged; not using it (move it aside to start the log afresh)"
                )
            offset += len(raw)
            event = _parse(raw) if raw.endswith(b"\n") else None
            if event is None:
                bad = number  # torn if it is the last line
                continue
            yield event, offset


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return event if isinstance(event, dict) and isinstance(event.get("kind"), str) else None


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy / torch scalars and arrays
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"event field of type {type(value).__name__} is not JSON-serialisable")
