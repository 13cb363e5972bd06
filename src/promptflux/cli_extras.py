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
