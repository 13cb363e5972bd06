"""The single path by which requests reach a model: de-duplicated, cache first, budget-checked, chunked.

Lookups go, in order:
  1. the run's `ledger` (what this run already paid for): free;
  2. the shared `cache` (answers other runs or commands computed): charged to this run's budget, since a
     fair comparison counts the evaluations a method needs, but not sent to the model;
  3. the model: charged and sent.
Without a ledger, shared-cache hits are free (plain `promptflux eval`). Every chunk is written to the
ledger and the cache before the next is sent, so a crash, a kill or an exhausted budget never loses an
answer that was paid for, and a run's spend can always be recounted from its ledger.

Calls a method makes outside a `LanguageModel` (a prompt-LM sampled token by token, whose trajectories
it needs) are charged by `record_calls` on the same terms: keyed, written to the ledger, charged once,
so a redone step is free and every role's spend is recounted from the ledger alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from promptflux.errors import BudgetExhausted
from promptflux.evaluation.budget import Budget
from promptflux.evaluation.cache import OutputCache, request_key
from promptflux.models.base import LanguageModel
from promptflux.types import Generation, GenRequest, Role, ScoreRequest, ScoreResult, Usage

Request = GenRequest | ScoreRequest
Output = Generation | ScoreResult


def call_model(
    model: LanguageModel,
    requests: Sequence[Request],
    *,
    cache: OutputCache | None = None,
    ledger: OutputCache | None = None,
    budget: Budget | None = None,
    role: Role = Role.TARGET,
    chunk_size: int = 256,
    on_chunk: Callable[[int], None] | None = None,
) -> list[Output]:
    """Outputs for `requests`, in order. Free, charged or sent as the module docstring says."""
    fingerprint = model.fingerprint()
    keys = [request_key(fingerprint, r) for r in requests]
    known: dict[str, Output] = ledger.get_many(keys) if ledger is not None else {}
    unpaid = [k for k in keys if k not in known]
    shared = cache.get_many(unpaid) if cache is not None and unpaid else {}
    if ledger is None:
        known.update(shared)  # no run to charge: a cached answer is simply free
        shared = {}
    pending: dict[str, Request | None] = {}
    for key, req in zip(keys, requests):
        if key not in known:
            pending.setdefault(key, None if key in shared else req)  # identical requests: sent once
    if on_chunk is not None and known:
        on_chunk(sum(1 for k in keys if k in known))
    todo = list(pending.items())
    while todo:
        room = budget.room(role) if budget is not None else None
        if room == 0:
            raise BudgetExhausted(f"{role} call budget exhausted ({len(todo)} requests not sent)")
        size = chunk_size if room is None else min(chunk_size, room)
        chunk, todo = todo[:size], todo[size:]
        to_send = [(k, r) for k, r in chunk if r is not None]
        fresh = {k: shared[k] for k, r in chunk if r is None}
        fresh.update(zip((k for k, _ in to_send), _dispatch(model, [r for _, r in to_send])))
        if budget is not None:
            budget.charge(role, _usage(list(fresh.values())))
        if ledger is not None:
            ledger.put_many(fresh, role=role)
        if cache is not None and to_send:
            cache.put_many({k: fresh[k] for k, _ in to_send}, role=role)
        known.update(fresh)
        if on_chunk is not None:
            on_chunk(sum(1 for k in keys if k in fresh))
    return [known[k] for k in keys]


def record_calls(
    outputs: Mapping[str, Output],
    *,
    ledger: OutputCache | None,
    budget: Budget | None,
    role: Role = Role.OPTIMIZER,
) -> None:
    """Charge calls made outside `call_model` (keyed by the caller): those already in the run's ledger
    were paid for before (a step redone after a resume) and are free; the rest are charged and ledgered."""
    known = ledger.get_many(outputs) if ledger is not None else {}
    fresh = {k: o for k, o in outputs.items() if k not in known}
    if budget is not None:
        budget.charge(role, _usage(list(fresh.values())))
    if ledger is not None and fresh:
        ledger.put_many(fresh, role=role)


def _dispatch(model: LanguageModel, requests: list[Request]) -> list[Output]:
    """Send one chunk, keeping order when it mixes generation and scoring requests."""
    gen_idx = [i for i, r in enumerate(requests) if isinstance(r, GenRequest)]
    score_idx = [i for i, r in enumerate(requests) if isinstance(r, ScoreRequest)]
    out: list[Output | None] = [None] * len(requests)
    for i, o in zip(gen_idx, model.generate([requests[i] for i in gen_idx])):
        out[i] = o
    for i, o in zip(score_idx, model.score([requests[i] for i in score_idx])):
        out[i] = o
    return out  # type: ignore[return-value]


def _usage(outputs: list[Output]) -> Usage:
    prompt = sum(o.prompt_tokens for o in outputs)
    completion = sum(o.completion_tokens for o in outputs if isinstance(o, Generation))
    return Usage(len(outputs), prompt, completion)
