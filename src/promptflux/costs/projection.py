"""What a run will cost, from its config and its data, before any model is loaded (`--dry-run`).

    RunSpec -> task (data only) + the method's search shape (shapes.py)
            -> per phase (search, validation, test) and model: calls, prompt tokens, completion tokens
            -> dollars, with per-model prices

Calls:  the validation and test phases of a known prompt are exact (the `fixed` method: every phase);
        a search is "at most" its formula (repeats and replays are free, from the run's ledger) and
        never more than its budget. Tokens: prompt tokens are counted on the real rendered inputs, with
        the model's tokenizer when it is on disk (else characters / 4); an instruction a search has not
        found yet is assumed to read like ASSUMED_INSTRUCTION; completion tokens are upper bounds
        (`max_new_tokens` per call); optimiser prompt tokens are a rough estimate (a meta-prompt's fixed
        text plus the examples it shows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptflux.costs.prices import Price, usd
from promptflux.costs.shapes import SearchShape, search_shape
from promptflux.costs.tokens import TokenCounter
from promptflux.tasks.base import GenerationTask, Task
from promptflux.types import Example

ASSUMED_INSTRUCTION = "Read the input carefully and answer with the single label or word that it asks for."
META_PROMPT_TOKENS = 250  # the fixed text of an optimiser meta-prompt (instructions, tags, history)


@dataclass(frozen=True)
class Line:
    """One phase of one model's spend."""

    phase: str  # search | validation | test
    role: str  # target | optimizer
    model: str
    calls: int | None  # None: unknown (no formula and no budget)
    calls_low: int | None  # the fewest calls (== calls when exact)
    exact: bool
    prompt_tokens: int | None
    completion_tokens: int  # an upper bound (0 for scoring requests)
    tokens_exact: bool
    usd: float | None = None  # None: the model has no price

    @property
    def bound(self) -> str:
        if self.calls is None:
            return "unknown"
        if self.exact:
            return f"{self.calls}"
        if self.calls_low is not None and 0 < self.calls_low < self.calls:
            return f"{self.calls_low}–{self.calls}"
        return f"≤ {self.calls}"


@dataclass
class Projection:
    method: str
    task: str
    lines: list[Line]
    token_basis: list[str]
    notes: list[str] = field(default_factory=list)
    max_usd: float | None = None

    def total(self, phase: str | None = None, role: str | None = None) -> dict[str, Any]:
        rows = [
            x for x in self.lines if (phase is None or x.phase == phase) and (role is None or x.role == role)
        ]
        known = [x for x in rows if x.calls is not None]
        return {
            "calls": sum(x.calls for x in known) if len(known) == len(rows) else None,
            "prompt_tokens": sum(x.prompt_tokens or 0 for x in rows),
            "completion_tokens": sum(x.completion_tokens for x in rows),
            "usd": sum(x.usd for x in rows if x.usd is not None),
            "priced": any(x.usd is not None for x in rows),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "task": self.task,
            "lines": [dict(x.__dict__, bound=x.bound) for x in self.lines],
            "token_basis": self.token_basis,
            "notes": self.notes,
            "max_usd": self.max_usd,
            "search_usd": self.total("search")["usd"],
        }


@dataclass(frozen=True)
class Cost:
    calls: int
    prompt_tokens: int
    completion_tokens: int  # an upper bound

    def __add__(self, other: Cost) -> Cost:
        return Cost(*(a + b for a, b in zip(self.__dict__.values(), other.__dict__.values())))

    def __mul__(self, k: int) -> Cost:
        return Cost(*(v * k for v in self.__dict__.values()))


class _Tokens:
    """What scoring a prompt on examples costs one target model, as the evaluator sends it: identical
    requests once, and a known prompt's request already paid for in an earlier phase not again (the
    run's ledger serves it)."""

    def __init__(self, task: Task, counter: TokenCounter) -> None:
        self.task = task
        self.counter = counter
        self.paid: set[str] = set()  # rendered inputs of known prompts, across phases
        self._counts: dict[str, int] = {}

    def _count(self, text: str) -> int:
        if text not in self._counts:
            self._counts[text] = self.counter.count(text, self.task.template.chat)
        return self._counts[text]

    def score(self, prompt: str, examples: list[Example], known: bool = True) -> Cost:
        texts = dict.fromkeys(self.task.template.render(prompt, ex.input) for ex in examples)
        if known:
            texts = {t: None for t in texts if t not in self.paid}
            self.paid.update(texts)
        first = sum(self._count(t) for t in texts)
        n, task = len(texts), self.task
        if not isinstance(task, GenerationTask):
            return Cost(n * task.rounds, first, 0)
        if task.answer_turn is None:
            return Cost(n, first, n * task.params.max_new_tokens)
        # Round 2 re-reads round 1 and its reply (at most first_round.max_new_tokens) plus the answer turn.
        extra = task.first_round.max_new_tokens + self.counter.words(task.answer_turn) + 10
        completion = n * (task.params.max_new_tokens + task.first_round.max_new_tokens)
        return Cost(2 * n, 2 * first + n * extra, completion)


def project(spec: Any, prices: dict[str, Price] | None = None) -> Projection:
    """The projected spend of the run `spec` (a RunSpec); loads the task's data, no model."""
    from promptflux.recipe import reference_prompts
    from promptflux.recipe.driver import fixed_subsample
    from promptflux.tasks import get_task

    prices = prices if prices is not None else dict(spec.prices)
    task = get_task(spec.task, seed=spec.data_seed, **spec.task_options)
    cfg = spec.method_config()
    train, val = task.split("train"), task.split(spec.val_split)
    test = fixed_subsample(task.split(spec.test_split), spec.test_examples)
    rounds = task.rounds
    shape = search_shape(spec.method, cfg, len(train))
    target = TokenCounter(spec.target)
    tokens = _Tokens(task, target)
    opt_spec = spec.optimizer_model or spec.prompt_lm
    basis = [target.basis + "; instructions not yet found assumed ~" + str(target.words(ASSUMED_INSTRUCTION))
             + " tokens"]  # fmt: skip

    def line(phase, role, model, calls, low, exact, prompt_tok, completion_tok, tokens_exact) -> Line:
        price = prices.get(model)
        cost = None if price is None or prompt_tok is None else usd(prompt_tok, completion_tok, price)
        return Line(phase, role, model, calls, low, exact, prompt_tok, completion_tok, tokens_exact, cost)

    lines = [_search_target(shape, spec, tokens, train, val, rounds, line)]
    if opt_spec:
        lines.append(_search_optimizer(shape, spec, opt_spec, task, train, line))
        if not TokenCounter(opt_spec).exact or shape.optimizer_charges_prompt:
            basis.append(
                TokenCounter(opt_spec).basis + "; optimiser prompt tokens are a rough estimate "
                f"({META_PROMPT_TOKENS} + the examples shown per request)"
            )

    # Validation: the candidates (unknown texts, or the fixed one) and every baseline not among them.
    baselines = list(dict.fromkeys([*reference_prompts(task).values(), *shape.baselines]))
    known = list(dict.fromkeys([*shape.known, *baselines]))
    unknown_val = 0
    if shape.known:  # fixed: exactly these prompts, nothing else
        val_prompts, val_exact = known, True
    elif shape.split == "val":  # scored on validation by the search: only baselines it did not score
        val_prompts, val_exact = [b for b in baselines if b not in shape.baselines], False
    else:
        val_prompts, val_exact = baselines, False
        unknown_val = shape.validated if shape.validated is not None else (shape.prompts or 0)
    val_cost = sum((tokens.score(p, val) for p in val_prompts), Cost(0, 0, 0))
    val_cost += tokens.score(ASSUMED_INSTRUCTION, val, known=False) * unknown_val
    lines.append(
        line(
            "validation", "target", spec.target, val_cost.calls, None, val_exact, val_cost.prompt_tokens,
            val_cost.completion_tokens, val_exact and target.exact,
        )
    )  # fmt: skip

    # Test: the chosen prompt and the baselines, once each.
    test_prompts = known if shape.known else baselines
    test_cost = sum((tokens.score(p, test) for p in test_prompts), Cost(0, 0, 0))
    if not shape.known:
        test_cost += tokens.score(ASSUMED_INSTRUCTION, test, known=False)
    lines.append(
        line(
            "test", "target", spec.target, test_cost.calls, None, bool(shape.known), test_cost.prompt_tokens,
            test_cost.completion_tokens, bool(shape.known) and target.exact,
        )
    )  # fmt: skip
    notes = [f"search: {shape.note}"] if shape.note else []
    if not shape.known:
        notes.append(
            "test: the chosen prompt plus the baselines (fewer calls when the chosen prompt is one of them)"
        )
    unpriced = sorted({x.model for x in lines if x.usd is None and prices})
    if unpriced:
        notes.append(f"no price for {', '.join(unpriced)}: counted as $0 (give --price MODEL=IN/OUT)")
    return Projection(spec.method, spec.task, lines, basis, notes, spec.max_usd)


def _search_target(shape: SearchShape, spec, tokens: _Tokens, train, val, rounds, line) -> Line:
    examples = val if shape.split == "val" else train
    one = tokens.score(ASSUMED_INSTRUCTION, examples, known=False)  # one new prompt on the search split
    if shape.prompts is None:
        calls = spec.max_target_calls
        if calls is None:
            return line("search", "target", spec.target, None, None, False, None, 0, False)
        scale = calls / max(1, one.calls)
        prompt_tok, comp = round(one.prompt_tokens * scale), round(one.completion_tokens * scale)
        return line("search", "target", spec.target, calls, None, False, prompt_tok, comp, False)
    cost = one * shape.prompts
    if shape.batch_calls:
        cost += tokens.score(ASSUMED_INSTRUCTION, train[:1], known=False) * shape.batch_calls
    if shape.example_calls and examples:  # scorings on subsets: the split's average example each
        share = shape.example_calls / len(examples)
        cost += Cost(*(round(v * share) for v in (one.calls, one.prompt_tokens, one.completion_tokens)))
    calls, prompt_tok, comp, exact = cost.calls, cost.prompt_tokens, cost.completion_tokens, shape.exact
    if spec.max_target_calls is not None and calls > spec.max_target_calls:  # the budget stops it first
        scale = spec.max_target_calls / calls
        calls, exact = spec.max_target_calls, False
        prompt_tok, comp = round(prompt_tok * scale), round(comp * scale)
    tokens_exact = exact and tokens.counter.exact
    return line("search", "target", spec.target, calls, None, exact, prompt_tok, comp, tokens_exact)


def _search_optimizer(shape: SearchShape, spec, model: str, task: Task, train, line) -> Line:
    from promptflux.optimizers.components.proposals import shown_answer

    if shape.prompts is None:
        calls = spec.max_optimizer_calls
        return line("search", "optimizer", model, calls, None, False, None, 0, False)
    low, high = shape.optimizer_min, shape.optimizer_max
    if spec.max_optimizer_calls is not None:
        low, high = min(low, spec.max_optimizer_calls), min(high, spec.max_optimizer_calls)
    counter = TokenCounter(model)
    prompt_tok = 0
    if shape.optimizer_charges_prompt and train:
        shown = [f"{task.template.render('', ex.input)}\n{shown_answer(task, ex)}" for ex in train[:50]]
        per_example = sum(counter.words(s) for s in shown) / len(shown)
        prompt_tok = round(high * (META_PROMPT_TOKENS + shape.shown_examples * per_example))
    comp = high * shape.optimizer_max_new_tokens
    return line("search", "optimizer", model, high, low, low == high, prompt_tok, comp, False)
