"""The report is arithmetic on trial folders: t intervals over seeds, budget notes, four output files."""

from __future__ import annotations

import json
import math

import pytest

from promptflux.compare.notes import budget_note
from promptflux.compare.report import write_report
from promptflux.compare.spec import parse_spec
from promptflux.compare.stats import mean_t_ci95, t975
from promptflux.compare.trials import ERROR, trial_dir
from promptflux.runs.report import step_values
from tests.compare.helpers import fake_trial

STOPPED = "target call budget exhausted (7 requests not sent)"


def test_t_quantiles_match_the_t_distribution():
    assert t975(1) == pytest.approx(12.7062, abs=1e-4)
    assert t975(2) == pytest.approx(4.3027, abs=1e-4)
    assert t975(30) == pytest.approx(2.0423, abs=1e-4)
    assert t975(40) == pytest.approx(2.0211, abs=1e-4)
    assert t975(10_000) == pytest.approx(1.9602, abs=1e-4)
    stats = pytest.importorskip("scipy.stats")  # a cross-check where scipy happens to be installed
    for df in (1, 3, 7, 29, 31, 45, 120, 1000):
        assert t975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-6)


def test_mean_and_interval_over_seeds():
    mean, half = mean_t_ci95([0.70, 0.75, 0.80])
    assert mean == pytest.approx(0.75)
    assert half == pytest.approx(4.302652730 * 0.05 / math.sqrt(3))
    assert mean_t_ci95([0.6]) == (0.6, None)  # one seed: a mean, no interval
    assert mean_t_ci95([0.5, 0.5]) == (0.5, 0.0)


def test_budget_notes():
    assert budget_note(120, 500, 6, None) == "used 120 of 500 target calls (finished its 6 steps)"
    assert budget_note(460, 500, 6, None) is None  # 92%: used its budget
    assert budget_note(498, 500, 3, STOPPED).startswith("stopped on the budget at 498 of 500 target calls")


def test_step_values_hold_the_best_so_far_between_points():
    series = [(10, 0.5), (30, 0.7)]
    got = step_values(series, [0, 10, 20, 30, 40])
    assert math.isnan(got[0]) and got[1:] == [0.5, 0.5, 0.7, 0.7]


@pytest.fixture()
def grid(tmp_path):
    spec = parse_spec(
        {"tasks": ["sst2", "trec"], "methods": ["fixed", "gpo"], "seeds": [0, 1, 2], "max_target_calls": 100}
    )
    out = tmp_path / "cmp"
    for task in spec.tasks:
        for seed, (test, calls) in enumerate([(0.70, 100), (0.75, 96), (0.80, 100)]):
            stopped = STOPPED if seed == 0 else None
            fake_trial(
                out, task, "gpo", seed, test=test, val=0.8, target_calls=calls, steps=5, stopped=stopped
            )
    fake_trial(out, "sst2", "fixed", 0, test=0.6, val=0.55, target_calls=0, steps=0, prompt="")
    failed = trial_dir(out, "sst2", "fixed", 1)
    failed.mkdir(parents=True)
    (failed / ERROR).write_text("CUDA out of memory\n\nTraceback ...\n")
    for seed in range(3):  # trec/fixed: prompts that need escaping; seed 2 under-used differently
        prompt = "<script>alert(1)</script> a|b\nline two"
        fake_trial(out, "trec", "fixed", seed, test=0.5, val=0.5, target_calls=0, steps=0, prompt=prompt)
    return spec, out


def test_summary_numbers_and_notes(grid):
    spec, out = grid
    summary = write_report(out, spec)
    sst2 = {m["label"]: m for m in summary["tasks"][0]["methods"]}
    gpo = sst2["gpo"]
    assert gpo["finished"] == 3 and gpo["test_mean"] == pytest.approx(0.75)
    assert gpo["test_ci95_half"] == pytest.approx(4.302652730 * 0.05 / math.sqrt(3))
    assert gpo["test_ci95"] == pytest.approx([0.75 - gpo["test_ci95_half"], 0.75 + gpo["test_ci95_half"]])
    assert gpo["target_calls_mean"] == pytest.approx(296 / 3) and gpo["optimizer_calls_mean"] == 15
    assert gpo["note"] == "stopped on the budget (seed 0): target call budget exhausted"
    assert [t["prompt"] for t in gpo["trials"]] == ["Classify it."] * 3
    fixed = sst2["fixed"]
    assert fixed["finished"] == 1 and fixed["failed"] == 1 and fixed["test_ci95_half"] is None
    assert fixed["note"] == (
        "used 0 of 100 target calls (finished its 0 steps); seed 1 failed: CUDA out of memory; "
        "seed 2 not started"
    )
    assert summary["trials"] == {"finished": 10, "failed": 1, "interrupted": 0, "not started": 1}
    assert summary["tasks"][0]["test_n"] == [50]
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))


def test_table_plot_and_self_contained_html(grid):
    spec, out = grid
    write_report(out, spec)
    table = (out / "table.md").read_text()
    assert "| gpo | 0.750 ± 0.124 (n=3) | 0.800 | 99 | 15 | 11 s | stopped on the budget" in table
    assert "| fixed | 0.600 (n=1) |" in table and "| fixed | 0 | 0.550 | 0.600 | (no instruction) |" in table
    assert "a\\|b<br>line two" in table  # a prompt cannot break the markdown table
    png = (out / "curves.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    page = (out / "report.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'src="data:image/png;base64,' in page
    assert "http://" not in page and "https://" not in page and "<link" not in page  # nothing to fetch
    assert "failed: CUDA out of memory" in page


def test_the_report_is_regenerated_from_the_folders_alone(grid):
    spec, out = grid
    from promptflux.compare.runner import save_spec

    save_spec(spec, out)
    first = write_report(out)  # spec read back from compare.yaml
    (out / "table.md").unlink()
    assert write_report(out) == first and (out / "table.md").exists()
