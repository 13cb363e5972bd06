"""Command-line pieces of issue 15 (export, early stopping, cost projection), kept apart from cli.py.

`cli.py` registers `export_command` and calls the helpers here from `optimize` and `compare`; the
logic lives in `promptflux.export`, `promptflux.runs.stopping` and `promptflux.costs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def read_run_config(path: Path) -> dict:
    """A `--config` run file (keys as in a run folder's config.yaml)."""
    from promptflux.config_files import read_yaml_mapping

    return read_yaml_mapping(path, "`task: sst2`")


# The issue-15 flags of `optimize` and `compare`.
PatienceOpt = Annotated[
    int | None, typer.Option(min=1, help="Stop after N steps without a better best validation score.")
]
TargetScoreOpt = Annotated[
    float | None, typer.Option(min=0.0, max=1.0, help="Stop once the best validation score reaches this.")
]
LengthPenaltyOpt = Annotated[
    float | None,
    typer.Option(min=0.0, help="Select on val accuracy - this x prompt tokens (0: record lengths only)."),
]
DemosOpt = Annotated[
    int | None, typer.Option(min=0, help="Try K training demonstrations with the chosen instruction.")
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print the projected calls, tokens and $ per phase; run nothing.")
]
PriceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--price", help="MODEL=IN/OUT dollars per million tokens (repeatable), e.g. smollm2=0.1/0.2."
    ),
]
PricesOpt = Annotated[Path | None, typer.Option("--prices", help="YAML file of MODEL: IN/OUT prices.")]
MaxUsdOpt = Annotated[
    float | None, typer.Option(min=0.000001, help="Hard budget in dollars for the search (needs prices).")
]

# Flags `optimize` and `compare` share (kept here: cli.py is near its size limit).
KeyEnvOrNoneOpt = Annotated[str | None, typer.Option(help="Env var holding the API key (never stored).")]
SharedCacheOpt = Annotated[
    Path | None, typer.Option(help="Shared SQLite output cache (default: user cache).")
]
OptimizerCallsOpt = Annotated[
    int | None, typer.Option(min=1, help="Hard budget of optimiser calls (per trial).")
]
TestExamplesOpt = Annotated[
    int | None,
    typer.Option(min=1, help="Score a fixed seeded subsample of N test examples (same in all trials)."),
]

# Each role its own server (default: --base-url / --api-key-env), and MLflow tracking.
TargetUrlOpt = Annotated[str | None, typer.Option(help="The target's server URL (default: --base-url).")]
TargetKeyOpt = Annotated[
    str | None, typer.Option(help="Env var holding the target's API key (default: --api-key-env).")
]
OptimizerUrlOpt = Annotated[
    str | None, typer.Option(help="The optimiser LLM's server URL (default: --base-url).")
]
OptimizerKeyOpt = Annotated[
    str | None, typer.Option(help="Env var holding the optimiser's API key (default: --api-key-env).")
]
MlflowOpt = Annotated[
    bool,
    typer.Option("--mlflow", help="Log to MLflow ($MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)."),
]
MlflowUriOpt = Annotated[str | None, typer.Option(help="Log to this MLflow tracking URI (implies --mlflow).")]


def mlflow_uri(on: bool, uri: str | None) -> str | None:
    """The tracking URI `--mlflow` / `--mlflow-uri` ask for (None: not given)."""
    from promptflux.tracking import default_uri

    return uri or (default_uri() if on else None)


def print_run_dry_run(spec) -> None:
    """The dry run of one run: its projection, no model loaded."""
    from promptflux.costs import project

    print_projection(project(spec))


def print_grid_dry_run(spec) -> None:
    """The dry run of a comparison: every trial's projection, summed per task and method."""
    from promptflux.compare.trials import run_spec
    from promptflux.costs import project

    print_grid_projection(
        [
            (task, m.key, len(spec.seeds), [project(run_spec(spec, task, m.key, s)) for s in spec.seeds])
            for task in spec.tasks
            for m in spec.methods
        ]
    )


def export_command(
    run: Annotated[Path, typer.Argument(help="A finished run folder, trial folder or comparison folder.")],
    top: Annotated[int, typer.Option(min=1, help="Export the K best prompts by validation score.")] = 1,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default RUN/export/; a comparison: each trial's).")
    ] = None,
) -> None:
    """Write the chosen prompt as text, JSON, a str.format template and an OpenAI-client snippet."""
    from promptflux.export import FILES, export_path

    for done in export_path(run, out, top):
        table = Table("rank", "prompt", "val", "test [95% CI]", box=None, title=str(done.run))
        for p in done.prompts:
            val = "-" if p.val is None else f"{p.val.accuracy:.3f}"
            test = "-"
            if p.test is not None:
                test = f"{p.test.accuracy:.3f} [{p.test.ci95[0]:.3f}, {p.test.ci95[1]:.3f}]"
            table.add_row(str(p.rank), repr(p.instruction), val, test)
        console.print(table)
        more = f" (+ rank-2 … rank-{len(done.prompts)}/)" if len(done.prompts) > 1 else ""
        short = f"; only {len(done.prompts)} prompt(s) were validated" if len(done.prompts) < top else ""
        console.print(f"exported to {done.out}: {', '.join(FILES)}{more}{short}", highlight=False)


def ended_line(result: dict) -> str:
    """The result table's line saying why the run ended (empty for a budget stop, said already)."""
    from promptflux.runs.stopping import describe_end

    end = result.get("ended")
    if not end or end["reason"] == "budget":
        return ""
    return f"\nended: {describe_end(end)}"


# ---------------------------------------------------------------------- dry run and prices


def price_fields(price: list[str] | None, prices: Path | None, base: dict | None = None) -> dict:
    """`prices` for a run or grid config: the config's own, then --prices FILE, then --price flags."""
    from promptflux.costs import gather_prices

    given = gather_prices(price, prices)
    if not given:
        return {}
    return {"prices": {**((base or {}).get("prices") or {}), **given}}


def _num(value: int | None, approx: bool = False) -> str:
    if value is None:
        return "?"
    return ("~" if approx else "") + f"{value:,}"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:,.4f}"


def print_projection(projection) -> None:
    """The dry run of one run: calls and tokens per phase and model, dollars where priced."""
    p = projection
    table = Table(
        "phase", "model", "calls", "prompt tokens", "completion tokens (max)", "$", box=None,
        title=f"dry run: {p.method} on {p.task} (no model loaded, nothing run)", title_justify="left",
    )  # fmt: skip
    for x in p.lines:
        who = f"{x.role} {x.model}"
        table.add_row(
            x.phase, who, x.bound, _num(x.prompt_tokens, not x.tokens_exact), _num(x.completion_tokens),
            _usd(x.usd),
        )  # fmt: skip
    total = p.total()
    table.add_row(
        "total", "", _num(total["calls"]), _num(total["prompt_tokens"], True),
        _num(total["completion_tokens"]), _usd(total["usd"]) if total["priced"] else "-",
    )  # fmt: skip
    console.print(table)
    for line in [*p.token_basis, *p.notes]:
        console.print(f"  {line}", highlight=False)
    search = p.total("search")
    if p.max_usd is not None:
        verdict = "fits in" if search["usd"] <= p.max_usd else "would exceed; the run stops at"
        console.print(f"search ${search['usd']:.4f} {verdict} --max-usd ${p.max_usd:g}", highlight=False)


def print_grid_projection(rows: list[tuple[str, str, int, object]]) -> None:
    """The dry run of a comparison: per task and method label (summed over seeds), then the total."""
    table = Table(
        "task", "method", "seeds", "search target", "optimiser", "validation", "test", "tokens", "$",
        box=None, title="dry run: comparison (no model loaded, nothing run)", title_justify="left",
    )  # fmt: skip
    grand = {"calls": 0, "tokens": 0, "usd": 0.0, "unknown": False}
    for task, label, seeds, projections in rows:

        def calls(phase: str, role: str | None, projections=projections) -> str:
            values = [p.total(phase, role)["calls"] for p in projections]
            return "?" if None in values else f"{sum(values):,}"

        tokens = sum(p.total()["prompt_tokens"] + p.total()["completion_tokens"] for p in projections)
        cost = sum(p.total()["usd"] for p in projections)
        grand["tokens"] += tokens
        grand["usd"] += cost
        for p in projections:
            c = p.total()["calls"]
            grand["unknown"] |= c is None
            grand["calls"] += c or 0
        table.add_row(
            task, label, str(seeds), calls("search", "target"), calls("search", "optimizer"),
            calls("validation", None), calls("test", None), f"~{tokens:,}", _usd(cost),
        )  # fmt: skip
    console.print(table)
    calls_total = ("at least " if grand["unknown"] else "") + f"{grand['calls']:,}"
    console.print(
        f"total: {calls_total} calls, ~{grand['tokens']:,} tokens, {_usd(grand['usd'])} "
        "(search calls are upper bounds; `optimize --dry-run` shows one trial in detail)",
        highlight=False,
    )
