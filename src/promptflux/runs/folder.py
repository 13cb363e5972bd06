"""A run folder: create a new one, or reopen one to resume it, as its only writer.

A run folder is locked (run.lock, an OS file lock that dies with its process, so a kill -9 never
leaves a stale one) from `create`/`open` to `close`; a second process gets a one-line error naming the
holder from run.owner. Every file is replaced atomically or appended line by line; see events.py for
how a torn log is handled and checkpoint.py for why checkpoints hold data only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock, Timeout

from promptflux.errors import ConfigError, StorageError
from promptflux.runs import checkpoint
from promptflux.runs.events import EventLog, read_events

log = logging.getLogger(__name__)

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
    LEDGER = "ledger.sqlite"
    LOCK = "run.lock"
    OWNER = "run.owner"

    def __init__(self, path: Path, lock: FileLock) -> None:
        self.path = path
        self._lock = lock
        try:
            self.events = EventLog(path / self.EVENTS)
        except OSError as e:
            self._unlock()
            raise StorageError(f"cannot open {path / self.EVENTS} for writing: {e.strerror}") from None

    @classmethod
    def create(cls, path: str | Path, config: dict[str, Any]) -> RunFolder:
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{path} is a file, not a folder; give --run-dir a new or empty folder")
        if (path / cls.CONFIG).exists():
            raise ConfigError(f"run folder {path} already holds a run; resume it with --resume {path}")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError(f"cannot create the run folder {path}: {e.strerror}") from None
        _refuse_links(path)
        lock = _lock(path)
        try:
            if (path / cls.CONFIG).exists():  # another process created it while we waited for the lock
                raise ConfigError(f"run folder {path} already holds a run; resume it with --resume {path}")
            _atomic_write(path / cls.CONFIG, yaml.safe_dump(strip_secrets(config), sort_keys=False))
        except BaseException:
            _unlock(lock, path)
            raise
        return cls(path, lock)

    @classmethod
    def open(cls, path: str | Path) -> RunFolder:
        path = Path(path)
        if not (path / cls.CONFIG).is_file():
            raise ConfigError(f"{path} is not a run folder (no {cls.CONFIG}); check the --resume path")
        _refuse_links(path)
        return cls(path, _lock(path))

    def config(self) -> dict[str, Any]:
        """config.yaml as a mapping; a damaged one is a one-line error (the run cannot be rebuilt)."""
        file = self.path / self.CONFIG
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise ConfigError(f"{file} is not readable YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{file} does not hold a run config (a mapping such as `task: sst2`)")
        return data

    def update_config(self, config: dict[str, Any]) -> None:
        """Replace config.yaml (e.g. a budget raised on resume), atomically and without secrets."""
        _atomic_write(self.path / self.CONFIG, yaml.safe_dump(strip_secrets(config), sort_keys=False))

    def logged_usage(self) -> dict[str, int]:
        """The largest value of each budget counter in the intact event log (one of the three records
        the spend is recounted from on resume, with the ledger and the checkpoint)."""
        most: dict[str, int] = {}
        for event in read_events(self.path / self.EVENTS):
            budget = event.get("budget")
            if not isinstance(budget, dict):
                continue
            for key, value in budget.items():
                if isinstance(value, int) and not isinstance(value, bool) and key != "wall_seconds":
                    most[key] = max(most.get(key, 0), value)
        return most

    # ------------------------------------------------------------------ checkpoints

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Write `state` (plain data and tensors, see checkpoint.py) with the event-log offset; replaces
        the last one atomically, so a kill or a full disk leaves the previous checkpoint in place."""
        final = self.path / self.CHECKPOINT
        tmp = self.path / (self.CHECKPOINT + ".tmp")
        old = self.path / (self.CHECKPOINT + ".old")
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            checkpoint.save({**state, "event_offset": self.events.offset}, tmp)
            for file in tmp.iterdir():
                _fsync(file)
            _fsync(tmp)
            shutil.rmtree(old, ignore_errors=True)
            if final.exists():
                final.rename(old)
            tmp.rename(final)  # the new checkpoint is complete before it takes the name
            _fsync(self.path)
        except OSError as e:
            raise StorageError(
                f"cannot write a checkpoint in {self.path}: {e.strerror}; the last one is kept, "
                f"free space and resume"
            ) from None
        shutil.rmtree(old, ignore_errors=True)

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The latest checkpoint (event log cut back to it), or None for a run that never checkpointed.

        The log is never lengthened: if it ends before the checkpoint's offset (its tail was lost), it
        keeps its intact events and the run continues from the checkpoint, with a warning."""
        for name in (self.CHECKPOINT, self.CHECKPOINT + ".old"):  # .old: killed between the renames
            folder = self.path / name
            if folder.exists():
                state = checkpoint.load(folder)
                offset = state.get("event_offset")
                if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
                    raise ConfigError(f"{folder} is not a readable checkpoint (no valid event_offset)")
                end = self._rewind(offset)
                if end < offset:
                    log.warning(
                        "%s ends %d bytes before the checkpoint's offset (its tail was lost): kept its "
                        "intact events; the run continues from the checkpoint",
                        self.path / self.EVENTS,
                        offset - end,
                    )
                return state
        self._rewind(0)
        return None

    def _rewind(self, offset: int) -> int:
        try:
            return self.events.rewind(offset)
        except OSError as e:
            raise StorageError(f"cannot rewind {self.path / self.EVENTS}: {e.strerror}") from None

    # ------------------------------------------------------------------ result

    def write_result(self, result: dict[str, Any]) -> None:
        """result.json marks the run finished: written last, atomically, after the plot."""
        _atomic_write(self.path / self.RESULT, json.dumps(result, indent=2, ensure_ascii=False))

    def result(self) -> dict[str, Any] | None:
        """The finished run's result; a damaged result.json counts as none (the final stage is redone
        from the checkpoint and the ledger, which costs no new calls)."""
        file = self.path / self.RESULT
        if not file.exists():
            return None
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            log.warning("%s is damaged (%s): redoing the final selection", file, type(e).__name__)
            return None
        if not isinstance(data, dict) or not isinstance(data.get("prompts"), dict):
            log.warning("%s is not a run result: redoing the final selection", file)
            return None
        return data

    def close(self) -> None:
        self.events.close()
        self._unlock()

    def _unlock(self) -> None:
        _unlock(self._lock, self.path)


def _refuse_links(path: Path) -> None:
    """A run folder from elsewhere may hold symbolic links: writing through one (appending to or
    truncating events.jsonl) would alter a file outside the folder, so none is followed."""
    names = (RunFolder.CONFIG, RunFolder.EVENTS, RunFolder.LEDGER, RunFolder.RESULT, RunFolder.CHECKPOINT)
    for name in (*names, RunFolder.OWNER, RunFolder.LEDGER + "-wal", RunFolder.LEDGER + "-shm"):
        if (path / name).is_symlink():
            raise ConfigError(f"{path / name} is a symbolic link; a run folder's files must be its own")


def _lock(path: Path) -> FileLock:
    """Hold `path`'s run lock, or fail at once naming the process that holds it."""
    lock = FileLock(path / RunFolder.LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not os.access(path, os.W_OK):  # some lock backends report a read-only folder as contention
            raise StorageError(f"cannot lock the run folder {path}: it is not writable") from None
        raise ConfigError(
            f"run folder {path} is in use by {_owner(path)}; wait for it to end or stop it"
        ) from None
    except OSError as e:
        raise StorageError(f"cannot lock the run folder {path}: {e.strerror}") from None
    try:
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        _atomic_write(path / RunFolder.OWNER, json.dumps(owner))
    except StorageError:
        lock.release()
        raise
    return lock


def _unlock(lock: FileLock, path: Path) -> None:
    with contextlib.suppress(OSError):  # before the release: the next holder writes its own
        (path / RunFolder.OWNER).unlink(missing_ok=True)
    lock.release()


def _owner(path: Path) -> str:
    try:
        owner = json.loads((path / RunFolder.OWNER).read_text())
        return f"process {int(owner['pid'])} on {owner['host']} (since {owner['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write {path}: {e.strerror}") from None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
