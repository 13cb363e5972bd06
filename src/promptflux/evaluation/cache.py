"""Persistent cache of raw model outputs, shared safely by concurrent processes (SQLite in WAL mode).

Keys hash everything that can change an answer: the model fingerprint (weights, dtype, adapter),
the full request (rendered input, continuations, decoding parameters) and, for sampled generations,
the explicit sample id. Greedy generations and log-prob scores are deterministic, so they are keyed
without a sample id; a sampled request is only ever served the sample with the same id. Fields added
later (GenRequest.history, GenRequest.prefill) enter the key only when set, so keys written before
they existed stay valid.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from promptflux.errors import ConfigError, PromptfluxError, StorageError
from promptflux.types import Generation, GenRequest, ScoreRequest, ScoreResult, Usage


def request_key(fingerprint: str, request: GenRequest | ScoreRequest) -> str:
    payload = dataclasses.asdict(request)
    if isinstance(request, GenRequest):
        if request.params.greedy:
            payload["sample_id"] = 0  # a greedy answer does not depend on which sample is asked for
        if not request.history:
            del payload["history"]  # one-turn requests keep the keys they had before `history` existed
        if not request.prefill:
            del payload["prefill"]  # likewise for `prefill`
    payload["kind"] = type(request).__name__
    payload["model"] = fingerprint
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def encode_output(output: Generation | ScoreResult) -> str:
    return json.dumps({"kind": type(output).__name__, **dataclasses.asdict(output)})


def decode_output(blob: str) -> Generation | ScoreResult:
    data = json.loads(blob)
    kind = data.pop("kind")
    if kind == "Generation":
        return Generation(tuple(data["texts"]), data["prompt_tokens"], data["completion_tokens"])
    return ScoreResult(tuple(data["logprobs"]), data["prompt_tokens"])


def default_cache_path() -> Path:
    """The shared output cache in the user cache folder (moved by $PROMPTFLUX_CACHE)."""
    from promptflux.models.embedded import cache_dir

    return cache_dir() / "outputs.sqlite"


OUR_COLUMNS = {"key", "output", "created"}  # `role` was added later, and is added when missing


def check_is_ours(path: Path, remedy: str = "point --cache elsewhere") -> None:
    """Refuse, before anything is written, a file that is not a promptflux cache: another application's
    database must never be altered (not even by switching it to WAL mode)."""
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; --cache takes a SQLite file path")
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        with contextlib.closing(sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)) as db:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            columns = {row[1] for row in db.execute("PRAGMA table_info(outputs)")}
    except sqlite3.DatabaseError as e:
        raise ConfigError(f"{path} is not a usable promptflux cache ({e}); {remedy}") from None
    foreign = {t for t in tables if not t.startswith("sqlite_")} - {"outputs"}
    if foreign or (tables and not columns >= OUR_COLUMNS):
        shown = ", ".join(sorted(foreign or tables)[:5])
        raise ConfigError(
            f"{path} is another application's SQLite database (tables: {shown}), not a promptflux "
            f"cache; it was left untouched: {remedy}"
        )


class OutputCache:
    """Key -> model output, in SQLite. `path=None` keeps it in memory for this process only."""

    def __init__(
        self, path: str | Path | None = None, timeout: float = 60.0, remedy: str = "point --cache elsewhere"
    ) -> None:
        """`remedy` ends the error for a file that is not a usable cache (a run's ledger says otherwise)."""
        self.path = Path(path) if path is not None else None
        self.remedy = remedy
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ConfigError(
                    f"cannot create the cache folder {self.path.parent}: {e.strerror}"
                ) from None
            check_is_ours(self.path, remedy)
        try:
            self._db = sqlite3.connect(str(self.path) if self.path else ":memory:", timeout=timeout)
            self._setup()
        except sqlite3.DatabaseError as e:
            raise self._error(e) from None
        self.hits = 0
        self.misses = 0

    def _error(self, e: sqlite3.DatabaseError) -> PromptfluxError:
        """One line that says what to do; never "delete it" (the file may hold answers paid for)."""
        text = str(e)
        if "readonly" in text or "unable to open" in text:
            return StorageError(
                f"{self.path} cannot be written ({text}): make it and its folder writable, or {self.remedy}"
            )
        if "full" in text:
            return StorageError(f"cache {self.path}: {text}; free space and rerun (nothing stored is lost)")
        return ConfigError(f"{self.path} is not a usable promptflux cache ({text}); {self.remedy}")

    def _setup(self) -> None:
        if self.path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outputs "
            "(key TEXT PRIMARY KEY, output TEXT NOT NULL, created REAL, role TEXT NOT NULL DEFAULT 'target')"
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outputs)")}
        if "role" not in columns:  # caches written by promptflux 0.1.0 before roles existed
            self._db.execute("ALTER TABLE outputs ADD COLUMN role TEXT NOT NULL DEFAULT 'target'")
        self._db.commit()

    def get_many(self, keys: Iterable[str]) -> dict[str, Generation | ScoreResult]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, Generation | ScoreResult] = {}
        for start in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
            part = keys[start : start + 500]
            marks = ",".join("?" * len(part))
            try:
                rows = self._db.execute(f"SELECT key, output FROM outputs WHERE key IN ({marks})", part)
                for key, blob in rows:
                    found[key] = decode_output(blob)
            except sqlite3.DatabaseError as e:
                raise self._error(e) from None
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def put_many(self, items: Mapping[str, Generation | ScoreResult], role: str = "target") -> None:
        now = time.time()
        rows = [(k, encode_output(v), now, role) for k, v in items.items()]
        try:
            with self._db:  # one transaction: either the whole chunk is stored or none of it
                self._db.executemany("INSERT OR IGNORE INTO outputs VALUES (?, ?, ?, ?)", rows)
        except sqlite3.DatabaseError as e:
            raise self._error(e) from None

    def items(self, role: str) -> dict[str, Generation | ScoreResult]:
        """Every output stored for `role` (e.g. to hand another run's paid answers to the shared cache)."""
        try:
            rows = self._db.execute("SELECT key, output FROM outputs WHERE role = ?", (role,)).fetchall()
        except sqlite3.DatabaseError as e:
            raise self._error(e) from None
        return {key: decode_output(blob) for key, blob in rows}

    def usage(self, role: str) -> Usage:
        """Calls and tokens of every output stored for `role`: a run ledger's spend, exact after a crash."""
        try:
            calls, prompt, completion = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(json_extract(output, '$.prompt_tokens')), 0), "
                "COALESCE(SUM(json_extract(output, '$.completion_tokens')), 0) FROM outputs WHERE role = ?",
                (role,),
            ).fetchone()
        except sqlite3.DatabaseError as e:
            raise self._error(e) from None
        return Usage(int(calls), int(prompt), int(completion))

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM outputs").fetchone()[0]

    def close(self) -> None:
        self._db.close()
