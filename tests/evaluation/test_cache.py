"""The output cache: keys contain everything that changes an answer; concurrent writers lose nothing."""

from __future__ import annotations

import multiprocessing as mp

from promptflux.evaluation.cache import OutputCache, request_key
from promptflux.types import Generation, GenRequest, SamplingParams, ScoreRequest, ScoreResult

GREEDY = SamplingParams(max_new_tokens=8)
SAMPLED = SamplingParams(temperature=1.0, max_new_tokens=8)


def test_key_depends_on_model_input_params_and_sample_id_for_sampled_calls():
    base = GenRequest("x", SAMPLED, sample_id=0)
    k = request_key("m1", base)
    assert k != request_key("m2", base)  # another model, or the same one with another adapter
    assert k != request_key("m1", GenRequest("y", SAMPLED))
    assert k != request_key("m1", GenRequest("x", SamplingParams(temperature=0.7, max_new_tokens=8)))
    assert k != request_key("m1", GenRequest("x", SAMPLED, sample_id=1))  # a fresh sample is a new key
    assert k != request_key("m1", GenRequest("x", SAMPLED, chat=False))


def test_greedy_requests_ignore_the_sample_id():
    assert request_key("m", GenRequest("x", GREEDY, sample_id=0)) == request_key(
        "m", GenRequest("x", GREEDY, sample_id=5)
    )


def test_score_and_generation_requests_never_collide():
    assert request_key("m", ScoreRequest("x", (" a",))) != request_key("m", GenRequest("x"))


def test_round_trip_and_persistence(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = OutputCache(path)
    cache.put_many({"a": ScoreResult((-1.5, -0.25), 7), "b": Generation(("hi", "ho"), 3, 2)})
    cache.close()
    again = OutputCache(path)
    got = again.get_many(["a", "b", "missing"])
    assert got == {"a": ScoreResult((-1.5, -0.25), 7), "b": Generation(("hi", "ho"), 3, 2)}
    assert (again.hits, again.misses) == (2, 1)


def _writer(path: str, worker: int, n: int) -> None:
    cache = OutputCache(path)
    for i in range(n):
        cache.put_many({f"{worker}-{i}": ScoreResult((float(i),), worker)})
    cache.close()


def test_concurrent_processes_can_write_the_same_cache(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    OutputCache(path).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 60)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert len(OutputCache(path)) == 240


def test_an_old_cache_without_roles_is_upgraded_in_place(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE outputs (key TEXT PRIMARY KEY, output TEXT NOT NULL, created REAL)")
    db.execute(
        "INSERT INTO outputs VALUES ('k', ?, 0)",
        ('{"kind":"ScoreResult","logprobs":[-1.0],"prompt_tokens":3}',),
    )
    db.commit()
    db.close()
    cache = OutputCache(path)
    assert cache.get_many(["k"])["k"] == ScoreResult((-1.0,), 3)
    cache.put_many({"k2": ScoreResult((-2.0,), 4)}, role="selection")
    assert cache.usage("target").calls == 1 and cache.usage("selection").calls == 1


def test_a_file_that_is_not_a_cache_is_a_one_line_error(tmp_path):
    import pytest

    from promptflux.errors import ConfigError

    bad = tmp_path / "notes.txt"
    bad.write_text("hello, this is not SQLite\n" * 100)
    with pytest.raises(ConfigError, match="not a usable promptflux cache"):
        OutputCache(bad)
