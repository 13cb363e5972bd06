"""Asking an optimiser LLM for prompts: the request/parse/retry loop every LLM-optimiser method shares.

    propose(ask, [(message, slot), ...], step=t, stage="ape-induce", settings=..., check=...)

Each (message, slot) is one candidate asked for with one completion per call. A reply is parsed for
`<START> ... <END>`; one that does not parse is asked for again with a note saying why (up to
`parse_retries` times), and so is one the optional `check(prompt)` hook rejects (the hook returns the
note, e.g. GPO's edit limit; up to `check_retries` times). What is still unusable is dropped and counted.

Every sampled request carries a `sample_id` fixed by (stage, step, slot, attempt), so a resumed run that
redoes a step gets the same replies back from its ledger instead of paying for different ones, and two
requests of one run never share an id.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from promptflux.evaluation.calls import Output, Request
from promptflux.optimizers.components.parsing import parse_prompt, parse_retry_note
from promptflux.tasks.base import Task
from promptflux.types import Example, Generation, GenRequest, SamplingParams

Ask = Callable[[Sequence[Request]], list[Output]]
"""Sends optimiser-LLM requests through the run's cache, ledger and budget (MethodContext.ask)."""

Check = Callable[[str], str | None]
"""Judges a parsed prompt: None to accept it, or the note sent with the request asked again."""

SLOTS = 1000  # slots per step, and attempts per slot
STEPS = 1_000_000  # steps per stage
STAGES = 9_000_000  # keeps every id below 2**63, so a backend may take it as a 64-bit seed


def stage_code(stage: int | str) -> int:
    """A stage as a number: ints as given, strings by a stable hash (never 0, the default stage)."""
    if isinstance(stage, int):
        if not 0 <= stage < STAGES:
            raise ValueError(f"a stage number must be in [0, {STAGES}), got {stage}")
        return stage
    return zlib.crc32(stage.encode()) % (STAGES - 1) + 1


def sample_id(step: int, slot: int, attempt: int, stage: int | str = 0, seed: int = 0) -> int:
    """The id of one sampled request; distinct for every (stage, step, slot, attempt) in range
    (two stage names could share a hash code, with odds of about one in nine million).

    Stage 0 gives `(step * SLOTS + slot) * SLOTS + attempt`, the ids GPO runs have always used, so
    their ledgers stay valid. A method seed other than 0 hashes into the id: runs that differ only in
    their seed must not be served each other's samples from a shared cache.
    """
    if not (0 <= step < STEPS and 0 <= slot < SLOTS and 0 <= attempt < SLOTS):
        raise ValueError(f"sample id out of range: step={step}, slot={slot}, attempt={attempt}")
    base = ((stage_code(stage) * STEPS + step) * SLOTS + slot) * SLOTS + attempt
    if seed == 0:
        return base
    digest = hashlib.blake2b(f"{seed}:{base}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1  # 63 bits, like the unseeded ids


def make_request(text: str, params: SamplingParams, sample: int = 0, prefill: str = "") -> GenRequest:
    """One chat request for one completion; greedy requests need no sample id (their answer is fixed)."""
    return GenRequest(
        prompt=text, params=params, chat=True, sample_id=0 if params.greedy else sample, prefill=prefill
    )


def reply_text(output: Output) -> str:
    return output.text if isinstance(output, Generation) else ""


@dataclass(frozen=True)
class ProposalSettings:
    """How replies are requested and how often an unusable one is asked for again."""

    params: SamplingParams
    parse_retries: int = 2  # extra requests for a reply with no parsable prompt
    check_retries: int = 2  # extra requests for a prompt the check hook rejected
    max_words: int = 200  # parsed prompts with more words are rejected as "too_long"
    rejected_as: str = "rejected"  # a slot's `dropped` after its check retries (GPO: "over_limit")
    # The reply starts with the opening tag, written for the optimiser: small local models rarely
    # write it themselves (SmolLM2-135M: 2 of 93 replies parsed without it). Chat APIs ignore it.
    prefill: str = "<START>"
    accept_unterminated: bool = False  # see parsing.parse_prompt
    seed: int = 0  # the method's seed, part of every sample id


@dataclass
class Slot:
    """One candidate being asked for, across its retries."""

    index: int
    message: str
    attempts: int = 0
    parse_failures: list[str] = field(default_factory=list)
    parsed: list[str] = field(default_factory=list)  # every parsed prompt, accepted or rejected
    rejections: list[str] = field(default_factory=list)  # the check hook's notes, one per rejection
    note: str = ""  # why the previous reply was refused, sent with the next request
    prompt: str | None = None
    dropped: str | None = None  # "unparseable" or settings.rejected_as: why the slot has no prompt

    def record(self) -> dict[str, Any]:
        """What an event log keeps of the slot."""
        return {
            "prompt": self.prompt,
            "attempts": self.attempts,
            "parse_failures": self.parse_failures,
            "rejections": len(self.rejections),
            "dropped": self.dropped,
        }


def propose(
    ask: Ask,
    asks: Sequence[tuple[str, int]],
    *,
    step: int,
    settings: ProposalSettings,
    stage: int | str = 0,
    check: Check | None = None,
) -> list[Slot]:
    """One slot per (message, slot index), each asked until it yields a prompt or runs out of retries.

    All pending slots go out as one batch per round of retries, so the requests (and their ids) depend
    only on the replies, never on timing.
    """
    indices = [slot for _, slot in asks]
    if len(set(indices)) != len(indices):
        raise ValueError(f"slot indices must be unique within a step, got {indices}")
    slots = [Slot(slot, message) for message, slot in asks]
    pending = slots
    while pending:
        requests = [
            make_request(
                s.message + ("\n\n" + s.note if s.note else ""),
                settings.params,
                sample_id(step, s.index, s.attempts, stage, settings.seed),
                settings.prefill,
            )
            for s in pending
        ]
        retry = []
        for slot, reply in zip(pending, ask(requests)):
            slot.attempts += 1
            if _accept(slot, reply_text(reply), settings, check):
                continue
            parse_left = len(slot.parse_failures) <= settings.parse_retries
            check_left = len(slot.rejections) <= settings.check_retries
            if parse_left and check_left:
                retry.append(slot)
            else:
                slot.dropped = "unparseable" if not parse_left else settings.rejected_as
        pending = retry
    return slots


def _accept(slot: Slot, reply: str, settings: ProposalSettings, check: Check | None) -> bool:
    """Parse and check one reply; True when it is a usable prompt (stored on the slot)."""
    parsed = parse_prompt(reply, settings.max_words, settings.accept_unterminated)
    if parsed.prompt is None:
        failure = parsed.failure or "empty"
        slot.parse_failures.append(failure)
        slot.note = parse_retry_note(failure, max_words=settings.max_words)
        return False
    slot.parsed.append(parsed.prompt)
    note = check(parsed.prompt) if check is not None else None
    if note is not None:
        slot.rejections.append(note)
        slot.note = note
        return False
    slot.prompt = parsed.prompt
    return True


def proposed(slots: Sequence[Slot]) -> list[str]:
    """The usable prompts, each once, in slot order."""
    return list(dict.fromkeys(s.prompt for s in slots if s.prompt is not None))


def tally(slots: Sequence[Slot]) -> dict[str, int]:
    """Counts for a step summary: requests sent, replies that did not parse, slots dropped."""
    return {
        "optimizer_requests": sum(s.attempts for s in slots),
        "parse_failures": sum(len(s.parse_failures) for s in slots),
        "dropped": sum(1 for s in slots if s.dropped),
    }


def shown_answer(task: Task, example: Example) -> str:
    """An example's output as the optimiser is shown it: the label word for classification tasks."""
    labels = getattr(task, "labels", None)
    return labels[example.label] if labels is not None and example.label is not None else example.target
