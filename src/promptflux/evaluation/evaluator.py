"""Scores prompts on examples of a task: per-example scores, not only the mean.

    task.request(prompt, example) -> call_model (cache, budget) -> task.score(example, output)

Two-round tasks (`task.follow_up` returns a request) add a second `call_model` with the follow-ups:
both rounds are target calls, cached and charged alike, and the second output is the one scored.
A (prompt, example) pair already scored for this model is served from the cache and costs nothing,
which is what makes replaying known prompts free for the optimizers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from promptflux.evaluation.budget import Budget
from promptflux.evaluation.cache import OutputCache, request_key
from promptflux.evaluation.calls import Output, Request, call_model
from promptflux.evaluation.stats import mean_ci95
from promptflux.models.base import LanguageModel
from promptflux.tasks.base import Task
from promptflux.types import Example, Role


@dataclass(frozen=True)
class PromptScore:
    prompt: str
    example_ids: tuple[str, ...]
    scores: tuple[float, ...]
    predictions: tuple[str, ...]

    @property
    def mean(self) -> float:
        return sum(self.scores) / len(self.scores) if self.scores else float("nan")

    @property
    def ci95(self) -> tuple[float, float]:
        _, low, high = mean_ci95(self.scores)
        return low, high


class Evaluator:
    """Evaluates prompts for one task on one target model, through a cache and a budget."""

    def __init__(
        self,
        task: Task,
        model: LanguageModel,
        *,
        cache: OutputCache | None = None,
        ledger: OutputCache | None = None,
        budget: Budget | None = None,
        chunk_size: int = 256,
        role: Role = Role.TARGET,
    ) -> None:
        """`cache` is shared across runs; `ledger` (optional) holds what this run paid for (see calls.py)."""
        self.task = task
        self.model = model
        self.cache = cache if cache is not None else OutputCache()
        self.ledger = ledger
        self.budget = budget if budget is not None else Budget()
        self.chunk_size = chunk_size
        self.role = role

    def for_task(self, task: Task) -> Evaluator:
        """The same model, cache, ledger, budget and role for another rendering of the task (e.g. with
        demonstrations): what it scores is charged and stored exactly as this evaluator's calls."""
        return Evaluator(
            task,
            self.model,
            cache=self.cache,
            ledger=self.ledger,
            budget=self.budget,
            chunk_size=self.chunk_size,
            role=self.role,
        )

    def evaluate(
        self,
        prompts: Sequence[str],
        examples: Sequence[Example] | str,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[PromptScore]:
        """One PromptScore per prompt, over `examples` (or a split name). Sends all pairs as one batch.

        Two-round tasks send a second batch with the follow-ups. `on_progress` counts (prompt, example)
        pairs whose final answer is in, so a progress total stays len(prompts) x len(examples).
        """
        if isinstance(examples, str):
            examples = self.task.split(examples)
        pairs = [(p, ex) for p in prompts for ex in examples]
        two_rounds = self.task.rounds > 1
        requests = [self.task.request(p, ex) for p, ex in pairs]
        outputs = self._call(requests, None if two_rounds else on_progress)
        if two_rounds:
            follow = [(i, self.task.follow_up(p, ex, outputs[i])) for i, (p, ex) in enumerate(pairs)]
            todo = [(i, r) for i, r in follow if r is not None]
            if on_progress is not None and len(todo) < len(pairs):
                on_progress(len(pairs) - len(todo))  # pairs that needed no second round are done
            finals = self._call([r for _, r in todo], on_progress)
            for (i, _), final in zip(todo, finals):
                outputs[i] = final
        results = []
        n = len(examples)
        for i, prompt in enumerate(prompts):
            outs = outputs[i * n : (i + 1) * n]
            results.append(
                PromptScore(
                    prompt=prompt,
                    example_ids=tuple(ex.id for ex in examples),
                    scores=tuple(self.task.score(ex, o) for ex, o in zip(examples, outs)),
                    predictions=tuple(self.task.predict(o) for o in outs),
                )
            )
        return results

    def _call(self, requests: list[Request], on_chunk: Callable[[int], None] | None) -> list[Output]:
        if not requests:
            return []
        return call_model(
            self.model,
            requests,
            cache=self.cache,
            ledger=self.ledger,
            budget=self.budget,
            role=self.role,
            chunk_size=self.chunk_size,
            on_chunk=on_chunk,
        )

    def is_known(self, prompt: str, examples: Sequence[Example]) -> bool:
        """True when evaluating `prompt` on `examples` would cost no target call (already paid for).

        For a two-round task the stored first answers give the follow-ups, which must be stored too.
        """
        store = self.ledger if self.ledger is not None else self.cache
        fp = self.model.fingerprint()
        requests = [self.task.request(prompt, ex) for ex in examples]
        keys = [request_key(fp, r) for r in requests]
        found = store.get_many(keys)
        if len(found) != len(set(keys)):
            return False
        if self.task.rounds == 1:
            return True
        follow = [self.task.follow_up(prompt, ex, found[k]) for ex, k in zip(examples, keys)]
        keys = [request_key(fp, r) for r in follow if r is not None]
        return len(store.get_many(keys)) == len(set(keys))
