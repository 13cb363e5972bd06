"""Running a method: a run config in, a finished run folder out (new or resumed).

config.py    RunSpec, the typed run configuration saved as config.yaml, and how it is made
driver.py    the step loop: resume, checkpoints, validation, the one test scoring, result.json
execute.py   `run`: task, models, budget and ledger from a RunSpec, the method built, the driver run
"""

from promptflux.recipe.config import RESUME_CHANGES, RunSpec, make_spec, resumed_spec
from promptflux.recipe.execute import model_options, reference_prompts, run

__all__ = [
    "RESUME_CHANGES",
    "RunSpec",
    "make_spec",
    "model_options",
    "reference_prompts",
    "resumed_spec",
    "run",
]
