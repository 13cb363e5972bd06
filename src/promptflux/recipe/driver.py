"""Runs any method (a `StepMethod`) in a run folder: resume, checkpoints, validation, one test.

    for step in remaining steps:
        method.step(step)                       -> events
        validate new candidates on the val split -> best validation score so far
        checkpoint (method state, counters)
    final: validate all candidates, pick the best by validation (less length_penalty x prompt tokens
           when set: objective.py), optionally try k demonstrations with it on validation (demos.py),
           score the test split once (the chosen prompt plus baselines; optionally a fixed seeded
           subsample of it), write result.json and the curve plot. A method with 0 steps (`fixed`)
           goes straight to the final.

With `Selection.race` (a method's `racing: true`), new candidates race the best validated prompt
(evaluation/racing.py): one dropped keeps its partial validation score apart (`raced_out`, logged with
`dropped`) and is never chosen, so the chosen prompt always has a full validation score.

Validation and test evaluations are charged to the "selection" role, not to the optimisation budget,
and reported separately. A kill -9 at any point loses nothing: evaluations are in the run's ledger,
events after the last checkpoint are cut on resume, and the redone step is served from the ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from promptflux.errors import BudgetExhausted, ConfigError
from promptflux.evaluation.budget import ROLES, Budget
from promptflux.evaluation.cache import OutputCache
from promptflux.evaluation.evaluator import Evaluator, PromptScore
from promptflux.evaluation.racing import RaceSettings, race
from promptflux.optimizers.base import StepMethod
from promptflux.recipe.demos import DemoSearch, apply_demos, search_demos
from promptflux.recipe.objective import LengthObjective
from promptflux.runs.event_types import BudgetMismatch, EarlyStop, Result, Step, Stopped, Validation
from promptflux.runs.folder import RunFolder
from promptflux.runs.pareto import PARETO_TABLE, write_front
from promptflux.runs.report import plot_curves
from promptflux.runs.stopping import EarlyStopping, ended
from promptflux.types import Example, Usage

log = logging.getLogger(__name__)

CURVE = "curve.png"
USAGE_FIELDS = tuple(f.name for f in fields(Usage))


@dataclass(frozen=True)
class Selection:
    val_split: str = "dev"
    test_split: str = "test"
    validate_top: int = 5  # candidates validated after each step (all of them at the end)
    baselines: dict[str, str] = field(default_factory=lambda: {"no instruction": ""})
    test_examples: int | None = None  # score a fixed subsample of the test split (None: all of it)
    race: RaceSettings | None = None  # race candidates on the val split (None: validate each in full)
    objective: LengthObjective | None = None  # prompt length as an objective (None: accuracy alone)
    demos: DemoSearch | None = None  # demonstrations chosen with the instruction (None: none)

    def tokens(self, prompt: str) -> int | None:
        return None if self.objective is None else self.objective.tokens(prompt)

    def score(self, prompt: str, accuracy: float) -> float:
        """What the best candidate is selected on: validation accuracy, less the length penalty."""
        return accuracy if self.objective is None else self.objective.score(accuracy, self.tokens(prompt))


def fixed_subsample(examples: list[Example], n: int | None) -> list[Example]:
    """`n` examples drawn with a fixed seed and kept in split order: the same subsample for every method,
    seed and run, so comparisons on a big test split stay paired. None (or n >= size) keeps them all."""
    if n is None or n >= len(examples):
        return list(examples)
    picked = np.sort(np.random.default_rng(0).choice(len(examples), size=n, replace=False))
    return [examples[int(i)] for i in picked]


def run_method(
    method: StepMethod,
    *,
    run: RunFolder,
    train_evaluator: Evaluator,
    selection_evaluator: Evaluator,
    budget: Budget,
    selection: Selection = Selection(),
    on_step: Callable[[int, dict[str, Any]], None] | None = None,
    stopping: EarlyStopping | None = None,
) -> dict[str, Any]:
    """Run (or resume) `method` to the end of its steps or its budget; returns the result.

    `stopping` (runs/stopping.py) ends the steps early on the best validation score; its state is
    checkpointed, so a run that stopped early stays stopped on resume."""
    done = run.result()
    if done is not None:
        if not (run.path / CURVE).exists():  # the plot is a pure function of the log: redraw it
            plot_curves(run.path / RunFolder.EVENTS, run.path / CURVE)
        return done
    logged = run.logged_usage()  # read before load_checkpoint cuts the log back
    state = run.load_checkpoint()
    start, validated, saved, raced_out = 0, {}, {}, {}
    if state is not None:
        try:
            method.load_state_dict(state["optimizer"])  # the method's state (the key predates the name)
            start, validated = int(state["step"]), dict(state["validated"])
            raced_out = dict(state.get("raced_out", {}))
            saved = {r: Usage(**{k: int(v) for k, v in u.items()}) for r, u in state["usage"].items()}
            budget.elapsed_before = float(state["elapsed"])
            if stopping is not None and state.get("stopping") is not None:
                stopping.load_state_dict(state["stopping"])
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as e:
            raise ConfigError(
                f"{run.path / RunFolder.CHECKPOINT} does not fit this run's method "
                f"({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})"
            ) from None
    reconcile_usage(budget, saved, train_evaluator.ledger, logged, run)

    def validate(prompts: list[str]) -> None:
        new = [p for p in dict.fromkeys(prompts) if p not in validated and p not in raced_out]
        if selection.race is not None and new:
            return validate_raced(new)
        for r in selection_evaluator.evaluate(new, selection.val_split) if new else []:
            validated[r.prompt] = r.mean
            run.events.record(
                Validation(
                    prompt=r.prompt,
                    split=selection.val_split,
                    scores=r.scores,
                    accuracy=r.mean,
                    prompt_tokens=selection.tokens(r.prompt),
                    budget=budget.snapshot(),
                )
            )

    def validate_raced(new: list[str]) -> None:
        assert selection.race is not None
        best = sorted(validated, key=lambda p: (-validated[p], len(p)))[:1]  # known in full: races free
        outcome = race(selection_evaluator, new, selection.val_split, selection.race, incumbents=best)
        for prompt, r in outcome.results.items():
            (raced_out if r.dropped else validated)[prompt] = r.score.mean
            run.events.record(
                Validation(
                    prompt=prompt,
                    split=selection.val_split,
                    scores=list(r.score.scores),
                    accuracy=r.score.mean,
                    prompt_tokens=selection.tokens(prompt),
                    budget=budget.snapshot(),
                    of=r.total,
                    dropped=r.dropped or None,
                    p_value=r.p_value,
                )
            )

    stopped, steps_done = None, start
    for step in range(start, method.total_steps):
        if stopping is not None and stopping.reason is not None:
            break  # stopped early before a kill or resume: nothing more to step
        try:
            summary = method.step(step)
        except BudgetExhausted as e:
            stopped = str(e)
            break
        validate(method.candidates()[: selection.validate_top])
        summary["best_val"] = max(validated.values(), default=None)
        run.events.record(Step(step=step, summary=summary, budget=budget.snapshot()))
        steps_done = step + 1
        if stopping is not None and stopping.update(step, summary["best_val"]):
            run.events.record(EarlyStop(**stopping.event(), budget=budget.snapshot()))
        run.save_checkpoint(
            {
                "step": step + 1,
                "optimizer": method.state_dict(),
                "validated": validated,
                **({"raced_out": raced_out} if selection.race is not None else {}),
                "usage": {role: asdict(used) for role, used in budget.used.items()},
                "elapsed": budget.wall_seconds,
                "stopping": None if stopping is None else stopping.state_dict(),
            }
        )
        if on_step is not None:
            on_step(step, {**summary, "budget": budget.snapshot()})
    if stopped:
        run.events.record(Stopped(reason=stopped, budget=budget.snapshot()))

    validate(method.candidates())
    if not validated:
        validate(list(selection.baselines.values()))  # nothing was found: fall back to the baselines
    best = max(validated, key=lambda p: (selection.score(p, validated[p]), -len(p)))
    picked = None
    if selection.demos is not None:  # on validation, the best instruction with demonstrations or without
        picked = search_demos(
            best,
            validated[best],
            selection.demos,
            evaluator=selection_evaluator,
            val_split=selection.val_split,
            test_split=selection.test_split,
            objective=selection.objective,
            events=run.events,
            budget=budget,
        )
    named = {"chosen": best, **selection.baselines, **method.baselines()}
    # Baselines get a validation score for context; they are not candidates for the selection above.
    context = {
        r.prompt: r.mean
        for r in selection_evaluator.evaluate(
            [p for p in dict.fromkeys(named.values()) if p not in validated], selection.val_split
        )
    }
    shown = selection_evaluator.task.with_demos(picked.demos if picked else ())
    unique = list(dict.fromkeys(p for n, p in named.items() if n != "chosen" or not shown.demos))
    test_set = fixed_subsample(selection_evaluator.task.split(selection.test_split), selection.test_examples)
    test = {s.prompt: s for s in selection_evaluator.evaluate(unique, test_set)}
    chosen = None  # the chosen instruction is tested once, with its demonstrations only
    if picked is not None and shown.demos:
        chosen = selection_evaluator.for_task(shown).evaluate([best], test_set)[0]
        test = {best: chosen, **test}  # (a baseline with the same text keeps its own score)
    result = _result(method.name, named, {**context, **validated}, test, selection, budget, stopped)
    if picked is not None and selection.demos is not None:
        apply_demos(result, shown, picked, selection.demos, chosen)
    if selection.objective is not None:
        result["selection"] = selection.objective.describe()
        tokens = {n: selection.objective.tokens(row["prompt"]) for n, row in result["prompts"].items()}
        selection.objective.annotate(
            result["prompts"], {**tokens, **({"chosen": picked.tokens} if picked else {})}
        )
    result["ended"] = ended(stopped, stopping, steps_done, method.total_steps)
    if selection.race is not None:
        result["raced_out"] = len(raced_out)  # candidates dropped in validation on a partial score
    run.events.record(Result(result=result))
    plot_curves(run.path / RunFolder.EVENTS, run.path / CURVE)
    if selection.objective is not None:
        write_front(run.path / RunFolder.EVENTS, run.path / PARETO_TABLE)
    run.write_result(result)  # last: a result.json means everything before it is in place
    return result


def reconcile_usage(
    budget: Budget,
    saved: dict[str, Usage],
    ledger: OutputCache | None,
    logged: dict[str, int],
    run: RunFolder,
) -> None:
    """Restore the spend counters from three records, so the loss of any one of them loses no spend:

    the ledger (every call paid for, of every role, exact even after a kill), the checkpoint's counters,
    and the largest counters in the event log. Each counter takes the largest record: spend is never
    revised down, so a lost or forged file can never free budget. The ledger should hold the most;
    when it holds fewer, the mismatch is reported (warning and event).
    """
    for role in ROLES:
        records: dict[str, Usage] = {"this process": budget.used[role]}  # e.g. charged while building
        if ledger is not None:
            records["ledger"] = ledger.usage(role)
        if role in saved:
            records["checkpoint"] = saved[role]
        records["event log"] = Usage(*(logged.get(f"{role}_{k}", 0) for k in USAGE_FIELDS))
        counted = Usage(*(max((getattr(u, k) for u in records.values()), default=0) for k in USAGE_FIELDS))
        budget.used[role] = counted
        if "ledger" in records and records["ledger"].calls < counted.calls:
            higher = [name for name, u in records.items() if u.calls == counted.calls]
            message = (
                f"{role} calls: {RunFolder.LEDGER} records {records['ledger'].calls} but the "
                f"{' and '.join(higher)} record {counted.calls}; counting {counted.calls} (spend is never "
                f"revised down; answers missing from the ledger are paid again if needed)"
            )
            log.warning(message)
            run.events.record(
                BudgetMismatch(
                    role=role,
                    records={name: asdict(u) for name, u in records.items()},
                    counted=asdict(counted),
                )
            )


def _result(
    method: str,
    named: dict[str, str],
    validated: dict[str, float],
    test: dict[str, PromptScore],  # by prompt
    selection: Selection,
    budget: Budget,
    stopped: str | None,
) -> dict[str, Any]:
    rows = {}
    for name, prompt in named.items():
        score = test[prompt]
        low, high = score.ci95
        rows[name] = {
            "prompt": prompt,
            "val": validated.get(prompt),
            "test": score.mean,
            "test_ci95": [low, high],
            "test_n": len(score.scores),
        }
    return {
        "method": method,
        "best_prompt": named["chosen"],
        "prompts": rows,
        "val_split": selection.val_split,
        "candidates_validated": len(validated),
        "budget": budget.snapshot(),
        "stopped": stopped,
    }
