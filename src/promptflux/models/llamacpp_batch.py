"""Many sequences in flight on one llama.cpp context: shared-prefix KV and continuous batching.

One token at a time, a 0.5B model on a CPU is bound by reading its weights, not by arithmetic: every
decode step streams the whole quantised file through the cores to produce one token. Decoding the
next token of 16 sequences in one step streams the weights once for all 16, which is where the speed
of batched generation comes from. The plan:

- sequences that share an instruction are grouped (`plan_prefix_groups`, as the transformers engine
  groups them); the group's prefix is decoded once into sequence 0 and copied to each slot by
  reference (a unified KV cache: a copy tags the cells, it does not duplicate them);
- each slot then decodes only its own suffix, and the decode steps of all active slots go into one
  batch; a slot that finishes takes the next waiting sequence at once (continuous batching);
- logits are requested only where they are read: the last position of a generating sequence, the
  continuation positions of a scored one.

Numerics: a batched step sums in a different order than a one-sequence step, so log-probs can differ in
the last digits and a greedy choice between two near-tied tokens can flip; the engine agreement tests
bound both.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from promptflux.errors import ConfigError
from promptflux.models.scoring import ScoreUnit, plan_prefix_groups

# choose(job, logits of its last position): append the next token to job.new and return True to go on,
# or return False when the job is finished
Chooser = Callable[["Job", np.ndarray], bool]


@dataclass
class Job:
    """One token sequence to run: scored (read logits at `read_from`..end) or continued by `choose`."""

    key: object  # caller's handle
    tokens: list[int]
    read_from: int  # first position whose logits are needed (len(tokens) - 1 for generation)
    reserve: int = 0  # KV cells to keep free for generated tokens
    new: list[int] = field(default_factory=list)
    rows: np.ndarray | None = None  # logits at read_from..len(tokens)-1 once the suffix is decoded
    state: object = None  # the chooser's per-job state (rng, text so far)


class BatchedContext:
    """A llama.cpp context on `model` with `slots` parallel sequences in one unified KV cache."""

    def __init__(self, lib, model, n_vocab: int, slots: int, n_ctx: int, n_batch: int, threads: int):
        params = lib.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = min(n_batch, 512)
        params.n_seq_max = slots + 1  # sequence 0 holds the current shared prefix
        params.kv_unified = True
        params.n_threads = params.n_threads_batch = threads
        params.no_perf = True
        ctx = lib.llama_init_from_model(model, params)
        if not ctx:
            raise ConfigError(f"llama.cpp could not create a context of {n_ctx} tokens x {slots} slots")
        self.lib, self.ctx, self.n_vocab = lib, ctx, n_vocab
        self.slots, self.n_ctx, self.n_batch = slots, n_ctx, n_batch
        self.mem = lib.llama_get_memory(ctx)
        self.batch = lib.llama_batch_init(n_batch, 0, 1)
        self.prefix: tuple[int, ...] = ()  # tokens held by sequence 0

    def close(self) -> None:
        if self.ctx:
            self.lib.llama_batch_free(self.batch)
            self.lib.llama_free(self.ctx)
            self.ctx = None

    # ------------------------------------------------------------------ primitives

    def decode(self, entries: list[tuple[int, int, int, bool]]) -> dict[int, np.ndarray]:
        """Decode (token, position, sequence, wants logits) entries; logits by entry index."""
        out: dict[int, np.ndarray] = {}
        b = self.batch
        for start in range(0, len(entries), self.n_batch):
            chunk = entries[start : start + self.n_batch]
            b.n_tokens = len(chunk)
            for i, (token, pos, seq, logits) in enumerate(chunk):
                b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = token, pos, 1, logits
                b.seq_id[i][0] = seq
            status = self.lib.llama_decode(self.ctx, b)
            if status != 0:
                raise ConfigError(
                    f"llama.cpp decode failed (status {status}): the KV cache of {self.n_ctx} tokens is "
                    "full; lower the parallel slots or raise n_ctx"
                )
            for i, (*_, logits) in enumerate(chunk):
                if logits:
                    ptr = self.lib.llama_get_logits_ith(self.ctx, i)
                    out[start + i] = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy()
        return out

    def set_prefix(self, tokens: Sequence[int]) -> None:
        """Make sequence 0 hold `tokens`, keeping what it already shares with them."""
        tokens = tuple(tokens)
        common = 0
        for a, b in zip(self.prefix, tokens):
            if a != b:
                break
            common += 1
        self.lib.llama_memory_seq_rm(self.mem, 0, common, -1)
        if common < len(tokens):
            self.decode([(t, common + i, 0, False) for i, t in enumerate(tokens[common:])])
        self.prefix = tokens

    def fork(self, slot: int, length: int) -> None:
        """Give `slot` the first `length` tokens of sequence 0 (by reference)."""
        self.lib.llama_memory_seq_rm(self.mem, slot, -1, -1)
        if length:
            self.lib.llama_memory_seq_cp(self.mem, 0, slot, 0, length)

    def release(self, slot: int) -> None:
        self.lib.llama_memory_seq_rm(self.mem, slot, -1, -1)

    # ------------------------------------------------------------------ the scheduler

    def run(self, jobs: list[Job], choose: Chooser | None = None, min_prefix: int = 8) -> None:
        """Run every job to completion: fill `rows` (and `new` through `choose` when given)."""
        for job in jobs:
            if len(job.tokens) + job.reserve > self.n_ctx:
                raise ConfigError(
                    f"a request of {len(job.tokens)} tokens plus {job.reserve} new ones exceeds the "
                    f"llama.cpp context of {self.n_ctx}; shorten the prompt or raise n_ctx"
                )
        units = [ScoreUnit(i, tuple(j.tokens), ((0, j.read_from + 1, ()),)) for i, j in enumerate(jobs)]
        for group in plan_prefix_groups(units, min_prefix):
            self._run_group([jobs[u.request] for u in group.units], group.prefix_len, choose)

    def _run_group(self, jobs: list[Job], prefix_len: int, choose: Chooser | None) -> None:
        if prefix_len:
            self.set_prefix(jobs[0].tokens[:prefix_len])
        elif any(len(j.tokens) + j.reserve + len(self.prefix) > self.n_ctx for j in jobs):
            self.set_prefix(())  # a long request needs the cells the cached prefix holds
        waiting = deque(jobs)
        free = list(range(self.slots, 0, -1))
        active: dict[int, Job] = {}  # slot -> job
        used = len(self.prefix)  # cells held by sequence 0 (kept for the next call when not used here)
        while waiting or active:
            entries: list[tuple[int, int, int, bool]] = []
            owners: list[Job] = []  # the job of each entry that wants logits, in entry order
            for slot, job in active.items():  # one decode step for every generating slot
                pos = len(job.tokens) + len(job.new) - 1
                owners.append(job)
                entries.append((job.new[-1], pos, slot, True))
            while waiting and free:
                job = waiting[0]
                need = len(job.tokens) - prefix_len + job.reserve
                if active and used + need > self.n_ctx:
                    break
                waiting.popleft()
                slot = free.pop()
                self.fork(slot, prefix_len)
                active[slot] = job
                used += need
                for pos in range(prefix_len, len(job.tokens)):
                    wants = pos >= job.read_from
                    if wants:
                        owners.append(job)
                    entries.append((job.tokens[pos], pos, slot, wants))
            logits = self.decode(entries)
            rows = iter(logits[i] for i, (*_, wants) in enumerate(entries) if wants)
            fresh: dict[int, list[np.ndarray]] = {}
            for job, row in zip(owners, rows):
                fresh.setdefault(id(job), []).append(row)
            for slot, job in list(active.items()):
                got = fresh.get(id(job))
                if got is None:
                    continue
                if job.rows is None:
                    job.rows = np.stack(got)
                    last = job.rows[-1]
                else:
                    last = got[0]
                if choose is None or not choose(job, last):
                    del active[slot]
                    self.release(slot)
                    free.append(slot)
                    used -= len(job.tokens) - prefix_len + job.reserve
