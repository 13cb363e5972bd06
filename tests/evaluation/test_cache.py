"""The output cache: keys contain everything that changes an answer; concurrent writers lose nothing."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from promptflux.errors import ConfigError
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


def test_keys_of_requests_without_history_are_the_ones_written_before_history_existed():
    # Computed with the code before GenRequest.history was added: existing caches must keep hitting.
    assert (
        request_key("fp-1", GenRequest("What is 2+2?", SamplingParams(max_new_tokens=64)))
        == "2d0be91d74c784f461f4e289384c3befa1daf18168276fa9c8717799c5e55de5"
    )
    sampled = SamplingParams(temperature=0.7, max_new_tokens=8, stop=("\n",))
    assert (
        request_key("fp-1", GenRequest("Hi", sampled, chat=False, system="sys", n=2, sample_id=3))
        == "8425f171243679f58c2ae8ca3586b068061abe1516a06616fd4c4a802a0aec7d"
    )
    assert (
        request_key("fp-1", ScoreRequest("ctx", (" a", " b"), chat=True))
        == "248b8a0ef1bb02f899e9f06f62cc37240401b4f805d4cf74397a7ad3095b380e"
    )


def test_history_is_part_of_the_key_and_needs_a_chat():
    plain = request_key("m", GenRequest("final?", GREEDY))
    one = request_key("m", GenRequest("final?", GREEDY, history=(("q", "a"),)))
    assert len({plain, one, request_key("m", GenRequest("final?", GREEDY, history=(("q", "b"),)))}) == 3
    assert request_key("m", GenRequest("final?", GREEDY, history=[["q", "a"]])) == one  # lists are tuples
    with pytest.raises(ConfigError, match="needs chat=True"):
        GenRequest("final?", GREEDY, chat=False, history=(("q", "a"),))
    with pytest.raises(ConfigError, match="pairs"):
        GenRequest("final?", GREEDY, history=(("q",),))


def test_prefill_is_part_of_the_key_only_when_set():
    plain = request_key("m", GenRequest("final?", GREEDY))
    assert request_key("m", GenRequest("final?", GREEDY, prefill="")) == plain
    assert request_key("m", GenRequest("final?", GREEDY, prefill="<START>")) != plain


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
