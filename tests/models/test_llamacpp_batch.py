"""The batched llama.cpp scheduler, checked exactly against a model whose logits are known.

`FakeLlama` stands in for the llama.cpp C API: it keeps each sequence's KV cells (position -> token),
refuses a token whose earlier positions its sequence does not hold, and returns logits that are a
fixed function of the sequence's whole token history. So a scheduler that forks a prefix wrongly,
misplaces a position or leaks a slot's cells into another gives different numbers, and one that is
right gives exactly what decoding every sequence alone would give.
"""

from __future__ import annotations

import ctypes
import hashlib
import random

import numpy as np
import pytest

from promptflux.errors import ConfigError
from promptflux.models.llamacpp_batch import BatchedContext, Job

VOCAB = 50


def logits_after(history: tuple[int, ...]) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(repr(history).encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(VOCAB).astype(np.float32)


class _Params:
    pass


class _Batch:
    def __init__(self, n: int) -> None:
        self.n_tokens = 0
        self.token = [0] * n
        self.pos = [0] * n
        self.n_seq_id = [0] * n
        self.seq_id = [[0] for _ in range(n)]
        self.logits = [False] * n


class FakeLlama:
    """The slice of the llama.cpp API BatchedContext uses, with a unified KV cache of `n_ctx` cells.

    A cell is one (position, token) shared by the sequences that hold it, as in llama.cpp: copying a
    sequence adds it to the cells' owners, removing it takes it away, an ownerless cell is free.
    """

    def __init__(self) -> None:
        self.cells: list[tuple[int, int, set[int]]] = []
        self.rows: list[np.ndarray | None] = []
        self.decoded_tokens = 0
        self.peak_cells = 0

    def llama_context_default_params(self):
        return _Params()

    def llama_init_from_model(self, model, params):
        self.n_ctx, self.max_seq = params.n_ctx, params.n_seq_max
        return object()

    def llama_get_memory(self, ctx):
        return "memory"

    def llama_batch_init(self, n, embd, n_seq):
        return _Batch(n)

    def llama_batch_free(self, batch):
        pass

    def llama_free(self, ctx):
        pass

    def history(self, seq: int) -> dict[int, int]:
        return {pos: token for pos, token, owners in self.cells if seq in owners}

    def llama_decode(self, ctx, batch):
        self.rows = []
        for i in range(batch.n_tokens):
            seq, pos, token = batch.seq_id[i][0], batch.pos[i], batch.token[i]
            assert 0 <= seq < self.max_seq
            held = self.history(seq)
            assert sorted(held) == list(range(pos)), f"sequence {seq} lacks positions before {pos}"
            if len(self.cells) >= self.n_ctx:
                return 1  # llama.cpp: no free KV slot
            self.cells.append((pos, token, {seq}))
            self.peak_cells = max(self.peak_cells, len(self.cells))
            self.decoded_tokens += 1
            held[pos] = token
            self.rows.append(
                logits_after(tuple(held[p] for p in range(pos + 1))) if batch.logits[i] else None
            )
        return 0

    def llama_get_logits_ith(self, ctx, i):
        row = self.rows[i]
        assert row is not None, "logits read at a position that did not ask for them"
        return row.ctypes.data_as(ctypes.POINTER(ctypes.c_float))

    def llama_memory_seq_rm(self, mem, seq, p0, p1):
        for pos, _, owners in self.cells:
            if pos >= max(p0, 0) and (p1 < 0 or pos < p1):
                owners.discard(seq)
        self.cells = [c for c in self.cells if c[2]]
        return True

    def llama_memory_seq_cp(self, mem, src, dst, p0, p1):
        for pos, _, owners in self.cells:
            if src in owners and pos >= p0 and (p1 < 0 or pos < p1):
                owners.add(dst)


def context(slots: int, n_ctx: int = 4096, n_batch: int = 64) -> tuple[BatchedContext, FakeLlama]:
    lib = FakeLlama()
    return BatchedContext(lib, None, VOCAB, slots=slots, n_ctx=n_ctx, n_batch=n_batch, threads=1), lib


def greedy(limit: int):
    def choose(job: Job, logits: np.ndarray) -> bool:
        token = int(np.argmax(logits))
        if token == 0 or len(job.new) >= limit:  # token 0 plays end-of-sequence
            return False
        job.new.append(token)
        return len(job.new) < limit

    return choose


def reference_greedy(tokens: list[int], limit: int) -> list[int]:
    new: list[int] = []
    while len(new) < limit:
        token = int(np.argmax(logits_after(tuple(tokens + new))))
        if token == 0:
            break
        new.append(token)
    return new


def workload(seed: int = 0) -> list[list[int]]:
    """Three instructions x several inputs, plus loose one-off sequences, shuffled."""
    rng = random.Random(seed)
    seqs = []
    for _ in range(3):
        instruction = [rng.randrange(1, VOCAB) for _ in range(rng.randrange(10, 30))]
        for _ in range(rng.randrange(4, 12)):
            seqs.append(instruction + [rng.randrange(1, VOCAB) for _ in range(rng.randrange(1, 8))])
    seqs += [[rng.randrange(1, VOCAB) for _ in range(rng.randrange(2, 20))] for _ in range(5)]
    rng.shuffle(seqs)
    return seqs


@pytest.mark.parametrize("slots", [1, 3, 16])
def test_scored_rows_are_exactly_those_of_each_sequence_alone(slots):
    ctx, _ = context(slots)
    seqs = workload()
    jobs = [Job(i, s, read_from=max(0, len(s) - 3)) for i, s in enumerate(seqs)]
    ctx.run(jobs)
    for job in jobs:
        expected = np.stack(
            [logits_after(tuple(job.tokens[: p + 1])) for p in range(job.read_from, len(job.tokens))]
        )
        np.testing.assert_array_equal(job.rows, expected)


@pytest.mark.parametrize("slots", [1, 4, 16])
def test_greedy_continuations_match_decoding_each_sequence_alone(slots):
    ctx, _ = context(slots)
    seqs = workload(1)
    jobs = [Job(i, s, read_from=len(s) - 1, reserve=6) for i, s in enumerate(seqs)]
    ctx.run(jobs, greedy(6))
    assert [job.new for job in jobs] == [reference_greedy(s, 6) for s in seqs]


def test_a_shared_instruction_is_decoded_once_not_per_sequence():
    instruction = list(range(1, 41))
    seqs = [[*instruction, 41 + i] for i in range(8)]
    ctx, lib = context(slots=8)
    ctx.run([Job(i, s, read_from=len(s) - 1) for i, s in enumerate(seqs)])
    assert lib.decoded_tokens == 40 + 8  # the prefix's 40 tokens once, then each input's own token


def test_a_small_kv_cache_makes_sequences_wait_not_fail():
    seqs = workload(2)
    ctx, lib = context(slots=16, n_ctx=64)
    jobs = [Job(i, s, read_from=len(s) - 1, reserve=4) for i, s in enumerate(seqs)]
    ctx.run(jobs, greedy(4))
    assert [job.new for job in jobs] == [reference_greedy(s, 4) for s in seqs]
    assert lib.peak_cells <= 64


def test_finished_sequences_leave_no_cells_behind():
    ctx, lib = context(slots=4)
    ctx.run([Job(i, s, read_from=len(s) - 1, reserve=3) for i, s in enumerate(workload(3))], greedy(3))
    assert {seq for *_, owners in lib.cells for seq in owners} <= {0}  # only the cached prefix stays


def test_a_request_longer_than_the_context_is_a_one_line_error():
    ctx, _ = context(slots=2, n_ctx=16)
    with pytest.raises(ConfigError, match=r"exceeds the llama\.cpp context of 16") as err:
        ctx.run([Job(0, list(range(1, 14)), read_from=12, reserve=8)])
    assert "\n" not in str(err.value)


def test_a_long_request_takes_back_the_cells_of_a_cached_prefix():
    ctx, lib = context(slots=4, n_ctx=48)
    instruction = list(range(1, 31))
    ctx.run([Job(i, [*instruction, 40 + i], read_from=30) for i in range(4)])  # leaves a 30-token prefix
    long = [Job(9, list(range(1, 45)), read_from=43, reserve=4)]
    ctx.run(long, greedy(4))
    assert long[0].new == reference_greedy(list(range(1, 45)), 4) and lib.peak_cells <= 48
