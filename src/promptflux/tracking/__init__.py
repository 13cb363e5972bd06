"""Experiment tracking: observers that copy a run (or a comparison) into a tracking server.

A tracker only watches: it gets the run's resolved config, each finished step's summary and counters,
and the finished run folder; methods, the driver and the run folder know nothing about it. A tracking
store that fails mid-run costs a warning, never the run.

    mlflow.py    MLflow (the `mlflow` extra): RunTracker for one run, CompareTracker for a comparison
                 (one parent run, one nested run per trial); values.py says what is logged
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB = "mlflow.db"


def default_uri() -> str:
    """`--mlflow` without a URI: $MLFLOW_TRACKING_URI, else an SQLite store in the current folder (an
    absolute path, so that a resumed run logs to the same store from any folder)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd().resolve() / DEFAULT_DB}"
