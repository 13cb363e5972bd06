"""`promptflux compare`: tasks x methods x seeds at one shared budget, and a report that says it fairly.

spec.py           CompareSpec (compare.yaml / flags), one-line errors
trials.py         one run folder per trial; finished / interrupted / new; stored-config check
local.py          trials in parallel processes on this machine
ray_executor.py   trials as Ray tasks (retries resume from the trial folder)
summary.py        the numbers (per trial, per method, the reference prompts) from the folders alone
report.py         summary.json, table.md, curves.png, report.html
runner.py         plan -> run the unfinished trials -> report
"""

from promptflux.compare.report import write_report
from promptflux.compare.runner import CompareOutcome, run_comparison
from promptflux.compare.spec import CompareSpec, load_spec, parse_spec

__all__ = ["CompareOutcome", "CompareSpec", "load_spec", "parse_spec", "run_comparison", "write_report"]
