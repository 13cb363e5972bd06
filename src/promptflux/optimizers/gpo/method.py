"""The GPO loop: wires the components of this package into steps the run driver can checkpoint.

One step t of T (GPO.md):
  1. limit = edit_limit(t, T); the prompts shown = retrieve(mode, trajectory, k) (or an LLM summary).
  2. Optionally a reflection: the current prompt's wrong answers on this step's training batch, explained
     by the optimiser LLM (P+M+R).
  3. `candidates` optimiser calls, one completion each (the official code asked for 8 and kept one).
     A reply that does not parse, or that changes more words than the limit allows (word-level edit
     distance, measured), is re-requested with a note saying why, a bounded number of times; what is
     still invalid is dropped and counted. Every distance is logged.
  4. New candidates are scored on the dev split through the cached evaluator; the next prompt is the
     best candidate not chosen before. The best-by-dev prompt so far is never lost: it is the first
     candidate the driver validates.

The ask/parse/retry loop is the shared `components.proposals.propose` (the edit limit is its check
hook). Every optimiser request carries a `sample_id` fixed by (step, slot, attempt), so a resumed step
gets the same replies back from the run's ledger instead of paying for new, different ones.
"""

from __future__ import annotations

from typing import Any

from promptflux.evaluation.evaluator import Evaluator
from promptflux.optimizers.components.induction import draw_demos, induction_prompt
from promptflux.optimizers.components.optimizer_llm import OptimizerLLMMethod, demonstrations
from promptflux.optimizers.components.proposals import (
    Ask,
    Check,
    Slot,
    make_request,
    proposed,
    reply_text,
    sample_id,
    tally,
)
from promptflux.optimizers.context import MethodContext
from promptflux.optimizers.gpo.config import GPOConfig
from promptflux.optimizers.gpo.edits import word_edit_distance
from promptflux.optimizers.gpo.meta_prompt import (
    placement_note,
    refinement_prompt,
    reflection_prompt,
    retry_note,
    summarization_prompt,
)
from promptflux.optimizers.gpo.retrieval import Embedder, SupportsEmbed, retrieve
from promptflux.optimizers.gpo.schedule import edit_limit
from promptflux.optimizers.gpo.trajectory import Trajectory, TrajectoryEntry
from promptflux.runs.event_types import GPOStart, GPOStep
from promptflux.runs.events import EventLog
from promptflux.types import Example, GenRequest, SamplingParams


class GPOMethod(OptimizerLLMMethod):
    """Trajectory, retrieval, edit-limited refinement, dev-scored candidates."""

    name = "gpo"
    summary = "LLM optimiser with trajectory retrieval and a decaying edit limit (Tang et al. 2025)"
    Config = GPOConfig

    def __init__(
        self,
        config: GPOConfig,
        evaluator: Evaluator,
        ask: Ask,
        *,
        train: list[Example],
        dev: list[Example],
        examples: list[tuple[str, str]],
        placement_note: str,
        demos: list[tuple[str, str]] | None = None,
        embedder: SupportsEmbed | None = None,
        events: EventLog | None = None,
    ) -> None:
        super().__init__(config, evaluator, ask, events=events)
        self.train = train
        self.dev = dev
        self.examples = examples
        self.demos = demos if demos is not None else examples  # what induction draws from (start=induced)
        self.placement_note = placement_note
        self._total = config.total_steps(len(train))
        needs_embedder = config.retrieval == "relevance"
        self.embedder = embedder or (Embedder(config.embedding_model) if needs_embedder else None)
        self.trajectory = Trajectory()

    @classmethod
    def parts(cls, context: MethodContext, config: GPOConfig) -> dict[str, Any]:
        task = context.task
        train = task.split(context.train_split)
        # GPO shows a few fixed examples; BBH ships GPO's own "format" examples for this.
        source = task.splits.get("format") or train
        return {
            **super().parts(context, config),
            "train": train,
            "dev": task.split(context.val_split),
            "examples": demonstrations(task, source[: config.task_examples]),
            "placement_note": placement_note(task),
            "demos": demonstrations(task, train),
        }

    @property
    def total_steps(self) -> int:
        return self._total

    # ------------------------------------------------------------------ one step
    def step(self, step: int) -> dict[str, Any]:
        cfg = self.config
        if not len(self.trajectory):
            self._start(step)
        current = self.trajectory.current
        limit = edit_limit(step, self._total, cfg)
        shown, summary = self._momentum(step)
        reflection = self._reflection(step) if cfg.direction == "prompt_score_reflection" else None
        message = refinement_prompt(
            cfg.refinement,
            shown,
            current.prompt,
            self.examples,
            limit,
            reflection,
            self.placement_note,
            summary=summary,
        )
        slots = self._candidates(step, message, current.prompt, limit)
        prompts = proposed(slots)
        distances = {s.index: [word_edit_distance(current.prompt, p) for p in s.parsed] for s in slots}
        new = [p for p in prompts if p not in self.trajectory]
        for prompt, score in zip(new, self._score(new)):
            self.trajectory.append(TrajectoryEntry(prompt, score, step), make_current=False)
        fresh = [p for p in prompts if p not in self.trajectory.chosen]
        moved = max(fresh, key=lambda p: (self.trajectory.get(p).score, -len(p)), default=None)
        if moved is not None:
            self.trajectory.choose(moved)
        record = {
            "step": step,
            "limit": limit,
            "current": current.prompt,
            "shown": [e.to_dict() for e in shown],
            "summary": summary,
            "reflection": reflection,
            "meta_prompt": message,
            "slots": [
                {
                    "prompt": s.prompt,
                    "attempts": s.attempts,
                    "parse_failures": s.parse_failures,
                    "distances": distances[s.index],
                    "dropped": s.dropped,
                }
                for s in slots
            ],
            "next": self.trajectory.current.prompt,
        }
        self.emit(GPOStep(**record))
        best = self.trajectory.best
        counts = tally(slots)
        measured = [d for slot_distances in distances.values() for d in slot_distances]
        accepted = [distances[s.index][-1] for s in slots if s.prompt is not None]  # the kept reply's
        return {
            "limit": limit,
            "candidates": len(prompts),
            "new_prompts": len(new),
            "optimizer_requests": counts["optimizer_requests"],
            "parse_failures": counts["parse_failures"],
            "over_limit": sum(1 for d in measured if limit is not None and d > limit),
            "dropped": counts["dropped"],
            "max_distance": max(accepted, default=None),
            "current_dev": self.trajectory.current.score,
            "best_dev": best.score,
        }

    def _start(self, step: int) -> None:
        """The first trajectory entries: the initial prompt, plus induced instructions (start=induced).

        Where the instruction defines the task, a fixed generic start ("Let's think step by step.")
        leaves the optimiser rewriting that sentence; induction from a few demonstrations proposes the
        task itself. Every start is scored on dev and the best becomes the current prompt.
        """
        cfg = self.config
        starts = [cfg.initial_prompt]
        if cfg.start == "induced":
            asks = [
                (
                    induction_prompt(draw_demos(self.demos, cfg.induce_demos, self.keyed("start", i))),
                    i,
                )
                for i in range(cfg.candidates)
            ]
            slots = self.propose(asks, step=step, stage="gpo-start")
            self.emit(GPOStart(slots=[s.record() for s in slots]))
            starts += [p for p in proposed(slots) if p != cfg.initial_prompt]
        for prompt, score in zip(starts, self._score(starts)):
            self.trajectory.append(TrajectoryEntry(prompt, score, step), make_current=False)
        first = max(self.trajectory.entries, key=lambda e: (e.score, -len(e.prompt)))
        self.trajectory.choose(first.prompt)

    def _momentum(self, step: int) -> tuple[list[TrajectoryEntry], str | None]:
        """The retrieved entries, or (under summarization) an LLM summary of the whole trajectory."""
        cfg = self.config
        if cfg.retrieval != "summarization":
            return retrieve(cfg.retrieval, self.trajectory, cfg.k, embedder=self.embedder), None
        entries = list(self.trajectory.entries)
        (reply,) = self.ask([self._request(summarization_prompt(entries), step, 999, 0, greedy=True)])
        return [], reply_text(reply).strip() or "(no summary)"

    def _reflection(self, step: int) -> str | None:
        """The optimiser's explanation of the current prompt's errors on this step's training batch."""
        cfg = self.config
        start = (step * cfg.step_batch) % len(self.train)
        batch = (self.train[start:] + self.train[:start])[: cfg.step_batch]
        current = self.trajectory.current.prompt
        (result,) = self.evaluator.evaluate([current], batch)
        wrong = [
            (ex.input, pred, ex.target)
            for ex, pred, score in zip(batch, result.predictions, result.scores)
            if score < 1.0
        ][: cfg.reflection_examples]
        if not wrong:
            return None
        (reply,) = self.ask([self._request(reflection_prompt(current, wrong), step, 998, 0, greedy=True)])
        return reply_text(reply).strip() or None

    def _candidates(self, step: int, message: str, current: str, limit: int | None) -> list[Slot]:
        """Ask for `candidates` prompts, one completion per call; over-limit replies are re-asked."""
        cfg = self.config
        settings = cfg.proposal_settings(check_retries=cfg.edit_retries, rejected_as="over_limit")
        asks = [(message, i) for i in range(cfg.candidates)]
        check = None if limit is None else _edit_check(current, limit)
        return self.propose(asks, step=step, stage=0, settings=settings, check=check)

    def _request(self, text: str, step: int, slot: int, attempt: int, greedy: bool = False) -> GenRequest:
        temperature = 0.0 if greedy else self.config.temperature
        params = SamplingParams(temperature=temperature, max_new_tokens=self.config.max_new_tokens)
        return make_request(text, params, sample_id(step, slot, attempt))

    def _score(self, prompts: list[str]) -> list[float]:
        """Dev scores; raced, new prompts race the best so far (free: already scored on dev)."""
        best = [self.trajectory.best.prompt] if len(self.trajectory) else []
        return [r.mean for r in self.score(prompts, self.dev, "dev", incumbents=best)]

    # ------------------------------------------------------------------ selection and checkpoints
    def candidates(self) -> list[str]:
        """Every scored prompt, best by dev first: the best-so-far is always validated first."""
        ranked = sorted(self.trajectory.entries, key=lambda e: (-e.score, len(e.prompt)))
        return [e.prompt for e in ranked]

    def baselines(self) -> dict[str, str]:
        return {"initial prompt": self.config.initial_prompt}

    def state_dict(self) -> dict[str, Any]:
        return {"trajectory": self.trajectory.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.trajectory = Trajectory.from_state(state["trajectory"])


def _edit_check(current: str, limit: int) -> Check:
    """The edit limit as a check hook: a reply changing more than `limit` words is asked for again."""

    def check(prompt: str) -> str | None:
        changed = word_edit_distance(current, prompt)
        return retry_note("over_limit", changed=changed, limit=limit) if changed > limit else None

    return check
