"""How many prompts each method scores in its search, from its config and the data sizes alone.

One small function per method; a method without one is projected at its budget (`--max-calls`),
or as unknown without one. Counts assume every optimiser reply parses and every proposal is new:
repeats are served from the run's ledger for free, so the real search costs at most this many target
calls (exactly this many when no reply is retried or repeated).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

VALIDATE_TOP = 5  # the driver validates the top 5 new candidates after each step (recipe/driver.py)


@dataclass(frozen=True)
class SearchShape:
    prompts: int | None  # prompt evaluations in the search (None: no formula for this method)
    split: str = "train"  # "train", or "val" for methods that score on the validation split
    exact: bool = False  # True: the count cannot vary (no optimiser reply decides it)
    batch_calls: int = 0  # extra single-example target calls on train (GPO's reflection batches)
    example_calls: int = 0  # prompt x example scorings on subsets of the search split (APE's rounds)
    optimizer_min: int = 0  # optimiser calls when every reply parses first time
    optimizer_max: int = 0  # ... when every retry is used
    optimizer_charges_prompt: bool = True  # prompt-LM samples are charged their completion tokens only
    optimizer_max_new_tokens: int = 0
    shown_examples: int = 0  # training examples shown in each optimiser request
    validated: int | None = None  # at most this many candidates validated (None: every prompt)
    baselines: tuple[str, ...] = ()  # the method's own baselines scored on test (known texts)
    known: tuple[str, ...] = ()  # candidate texts known in advance (the `fixed` instruction)
    note: str = ""
    extras: dict[str, Any] = field(default_factory=dict)


def _retries(cfg: Any) -> int:
    return 1 + getattr(cfg, "parse_retries", 0)


def fixed(cfg: Any, n_train: int) -> SearchShape:
    return SearchShape(0, exact=True, validated=1, known=(cfg.instruction,), note="no search")


def opro(cfg: Any, n_train: int) -> SearchShape:
    asks = cfg.steps * cfg.candidates_per_step
    initial = (cfg.initial_prompt,) if cfg.initial_prompt.strip() else ()
    return SearchShape(
        1 + asks,
        optimizer_min=asks,
        optimizer_max=asks * _retries(cfg),
        optimizer_max_new_tokens=cfg.max_new_tokens,
        shown_examples=cfg.exemplars,
        validated=min(1 + asks, VALIDATE_TOP * cfg.steps + cfg.candidates),
        baselines=initial,
        note=f"{cfg.steps} steps x {cfg.candidates_per_step} proposals + the initial prompt, on train",
    )


def gpo(cfg: Any, n_train: int) -> SearchShape:
    steps = cfg.total_steps(n_train)
    induced = cfg.candidates if cfg.start == "induced" else 0
    asks = steps * cfg.candidates
    per_step = (cfg.retrieval == "summarization") + (cfg.direction == "prompt_score_reflection")
    return SearchShape(
        1 + induced + asks,
        split="val",
        batch_calls=steps * cfg.step_batch if cfg.direction == "prompt_score_reflection" else 0,
        optimizer_min=induced + asks,
        optimizer_max=induced * _retries(cfg) + asks * (_retries(cfg) + cfg.edit_retries) + steps * per_step,
        optimizer_max_new_tokens=cfg.max_new_tokens,
        shown_examples=cfg.task_examples,
        baselines=(cfg.initial_prompt,),
        note=f"{steps} steps x {cfg.candidates} candidates"
        + (f" + {induced} induced starts" if induced else "")
        + " + the initial prompt, on the validation split (validation is then free)",
    )


def evoprompt(cfg: Any, n_train: int) -> SearchShape:
    given = len(dict.fromkeys(cfg.initial_prompts))
    missing = max(0, cfg.population - given)
    asks = missing + cfg.generations * cfg.population
    return SearchShape(
        cfg.population + cfg.generations * cfg.population,
        split="val",
        optimizer_min=asks,
        optimizer_max=asks * _retries(cfg),
        optimizer_max_new_tokens=cfg.max_new_tokens,
        shown_examples=cfg.demos,
        note=f"a population of {cfg.population} + {cfg.generations} generations of {cfg.population} "
        "children, on the validation split (validation is then free)",
    )


def ape(cfg: Any, n_train: int) -> SearchShape:
    """Halving: a round's prompts are scored on the examples of its prefix they have not seen yet; UCB:
    every pull is `ucb_batch` examples (repeats are free, so this is an upper bound)."""
    from promptflux.optimizers.ape import halving_plan

    rounds = cfg.resample_rounds + 1
    calls = rank_steps = 0
    for round_ in range(rounds):
        if cfg.ranking == "ucb":
            calls, rank_steps = calls + cfg.ucb_pulls * cfg.ucb_batch, rank_steps + cfg.ucb_steps
            continue
        pool = cfg.num_candidates + (cfg.keep if round_ else 0)
        plan = halving_plan(pool, cfg.keep, cfg.first_subset, n_train)
        seen = [0, *(r.examples for r in plan)]
        calls += sum(r.prompts * (r.examples - before) for r, before in zip(plan, seen))
        rank_steps += len(plan)
    asks = rounds * cfg.num_candidates
    ranking = "successive halving" if cfg.ranking == "halving" else f"UCB ({cfg.ucb_pulls} pulls)"
    return SearchShape(
        0,
        example_calls=calls,
        optimizer_min=asks,
        optimizer_max=asks * _retries(cfg),
        optimizer_max_new_tokens=cfg.max_new_tokens,
        shown_examples=cfg.demos,
        validated=min(asks + (rounds - 1) * cfg.keep, cfg.keep * rank_steps),
        note=f"{rounds} round(s) of {cfg.num_candidates} proposals ranked by {ranking} on train",
    )


def protegi(cfg: Any, n_train: int) -> SearchShape:
    """Upper bound: every beam prompt has errors to explain and the beam is full after the first step."""
    beams = [1] + [cfg.beam_size] * (cfg.steps - 1)  # step 0 expands the initial prompt alone
    edits = cfg.num_gradients * cfg.edits_per_gradient
    asks = sum(b * (cfg.num_gradients + edits * (1 + cfg.mc_paraphrases)) for b in beams)
    candidates = sum(b * edits * (1 + cfg.mc_paraphrases) for b in beams)
    examples = (
        sum(b * min(cfg.minibatch, n_train) for b in beams) + cfg.steps * cfg.pulls_per_step * cfg.pull_batch
    )
    initial = (cfg.initial_prompt,) if cfg.initial_prompt.strip() else ()
    return SearchShape(
        0,
        example_calls=examples,
        optimizer_min=0,  # a beam with no wrong answer asks nothing
        optimizer_max=asks * _retries(cfg),
        optimizer_max_new_tokens=cfg.max_new_tokens,
        shown_examples=cfg.errors_per_gradient,
        validated=min(1 + candidates, VALIDATE_TOP * cfg.steps),
        baselines=initial,
        note=f"{cfg.steps} beam steps: errors on a minibatch, {cfg.num_gradients} reasons x "
        f"{cfg.edits_per_gradient} edits x (1 + {cfg.mc_paraphrases} paraphrases) per beam prompt, "
        f"{cfg.pulls_per_step} bandit pulls of selection, on train",
    )


def prompt_lm_sampling(cfg: Any, n_train: int) -> SearchShape:
    draws = cfg.steps * cfg.samples_per_step
    return SearchShape(
        draws,
        optimizer_min=draws,
        optimizer_max=draws,
        optimizer_charges_prompt=False,
        optimizer_max_new_tokens=cfg.max_new_tokens,
        validated=min(draws, VALIDATE_TOP * cfg.steps + getattr(cfg, "candidates", draws)),
        note=f"{cfg.steps} steps x {cfg.samples_per_step} prompt-LM samples, on train",
    )


def gflowpo(cfg: Any, n_train: int) -> SearchShape:
    """Upper bound: every micro-batch on-policy. Warm-up steps always sample; after it a micro-batch is
    sampled with probability `online_ratio` (else replayed: no target or optimiser call)."""
    micro = cfg.steps * cfg.grad_accumulation
    warm = cfg.warmup_steps * cfg.grad_accumulation
    expected = round((warm + (micro - warm) * cfg.online_ratio) * cfg.micro_batch_size)
    if cfg.online_schedule == "paced":
        spend = "paced: up to the target-call budget"
    else:
        spend = f"~{expected} expected at online_ratio {cfg.online_ratio}"
    draws = micro * cfg.micro_batch_size
    seeds = cfg.seed_limit if cfg.seed_prompts else 0
    return SearchShape(
        draws + seeds,
        optimizer_min=warm * cfg.micro_batch_size,
        optimizer_max=draws,
        optimizer_charges_prompt=False,
        optimizer_max_new_tokens=cfg.max_new_tokens,
        validated=min(draws + seeds, cfg.dmu_queue_size + 10),
        note=f"{cfg.steps} steps x {cfg.grad_accumulation} micro-batches of {cfg.micro_batch_size} samples "
        f"if all on-policy; {spend}" + (f", + up to {seeds} seed prompts" if seeds else "") + ", on train",
    )


SHAPES: dict[str, Callable[[Any, int], SearchShape]] = {
    "gflowpo": gflowpo,
    "ape": ape,
    "protegi": protegi,
    "fixed": fixed,
    "opro": opro,
    "gpo": gpo,
    "evoprompt": evoprompt,
    "sampling": prompt_lm_sampling,
    "ppo": prompt_lm_sampling,
}


def search_shape(method: str, cfg: Any, n_train: int) -> SearchShape:
    shape = SHAPES.get(method)
    if shape is None:
        return SearchShape(None, note=f"no call formula for {method} yet: projected at its budget")
    return shape(cfg, n_train)
