"""MLflow tracking (`pip install 'promptflux[mlflow]'`): a run, or a comparison, copied into MLflow.

    RunTracker      one run, live: params at the start, metrics after each step (step = the run's
                    step index), at the end the chosen prompt (param, tag, best_prompt.txt), the
                    test scores with their intervals and the run folder's files under `run/`
    CompareTracker  a comparison: one parent run (the grid's params, the report's files) and, for each
                    finished trial, a nested run logged from its folder (the same values, read back
                    from config.yaml, events.jsonl and result.json)

Everything goes through one explicit `MlflowClient` (no active-run global). A run is found again by
its folder (tag promptflux.run_folder), so `--resume` continues the same MLflow run and a rerun of a
comparison adds only the trials not logged yet. API keys are never logged: params come from the
config with `strip_secrets` applied, and configs name key variables, never their values.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from promptflux.errors import ConfigError
from promptflux.runs.events import read_events
from promptflux.runs.folder import RunFolder
from promptflux.tracking.values import params, result_metrics, step_metrics

log = logging.getLogger(__name__)

INSTALL = "pip install 'promptflux[mlflow]'"
EXPERIMENT = "promptflux"
FOLDER_TAG = "promptflux.run_folder"
COMPARE_TAG = "promptflux.compare_folder"
PARENT_TAG = "mlflow.parentRunId"
RUN_FILES = (RunFolder.CONFIG, RunFolder.RESULT, RunFolder.EVENTS, "curve.png")
COMPARE_FILES = ("compare.yaml", "summary.json", "table.md", "curves.png", "report.html")


def connect(uri: str, experiment: str = EXPERIMENT) -> tuple[Any, str]:
    """An MlflowClient on `uri` and the id of `experiment` (created if new); one-line errors."""
    parts = urlsplit(uri)
    if parts.username or parts.password:
        raise ConfigError(
            f"--mlflow-uri must not hold credentials ({parts.scheme}://…@{parts.hostname}); set "
            f"$MLFLOW_TRACKING_USERNAME / $MLFLOW_TRACKING_PASSWORD or $MLFLOW_TRACKING_TOKEN instead"
        )
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError(f"--mlflow needs the mlflow package: {INSTALL}") from None
    for name in ("mlflow", "alembic"):  # their INFO lines (schema migrations) are not the run's output
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        client = MlflowClient(tracking_uri=uri)
        found = client.get_experiment_by_name(experiment)
        if found is not None:
            return client, found.experiment_id
        return client, client.create_experiment(experiment, artifact_location=_artifact_root(uri))
    except ImportError as e:  # an SQL store without sqlalchemy/alembic
        raise ConfigError(f"--mlflow-uri {uri} needs {e.name or 'a package'}: {INSTALL}") from None
    except Exception as e:  # MlflowException, connection errors: the store cannot be used
        raise ConfigError(f"--mlflow-uri {uri}: {_first_line(e)}") from None


def _artifact_root(uri: str) -> str | None:
    """Beside an SQLite store (`<folder>/mlruns`), not in whatever folder the command ran from."""
    if not uri.startswith("sqlite:///"):
        return None  # a server or another store decides
    return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlruns").as_uri()


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]


def _find(client: Any, experiment: str, tag: str, value: str, parent: str | None = None) -> Any | None:
    """The newest run whose `tag` is `value` (and, given, whose parent is `parent`)."""
    quoted = value.replace("'", "\\'")
    query = f"tags.`{tag}` = '{quoted}'"
    if parent is not None:
        query += f" and tags.`{PARENT_TAG}` = '{parent}'"
    runs = client.search_runs([experiment], query, max_results=1, order_by=["attributes.start_time DESC"])
    return runs[0] if runs else None


def _log_params(client: Any, run: Any, config: dict[str, Any]) -> None:
    """Params once; a value changed since (a budget raised on resume) becomes a `changed.` tag, as MLflow
    never changes a logged param."""
    from mlflow.entities import Param, RunTag

    logged = run.data.params
    new = [Param(k, v) for k, v in params(config).items() if k not in logged]
    changed = [RunTag(f"changed.{k}", v) for k, v in params(config).items() if logged.get(k, v) != v]
    for i in range(0, len(new), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run.info.run_id, params=new[i : i + 100])
    if changed:
        client.log_batch(run.info.run_id, tags=changed)


def _log_metrics(client: Any, run_id: str, values: dict[str, float], step: int) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, v, now, step) for k, v in values.items()])


def _log_end(client: Any, run_id: str, result: dict[str, Any], folder: Path, step: int) -> None:
    """The chosen prompt, the final scores and the run folder's files."""
    prompt = result.get("best_prompt") or ""
    client.log_param(run_id, "best_prompt", prompt[:6000])
    client.set_tag(run_id, "promptflux.best_prompt", prompt[:5000])
    client.set_tag(run_id, "promptflux.ended", str(result.get("ended")))
    client.log_text(run_id, prompt, "best_prompt.txt")
    _log_metrics(client, run_id, result_metrics(result), step)
    for name in RUN_FILES:
        if (folder / name).exists():
            client.log_artifact(run_id, str(folder / name), "run")


class RunTracker:
    """Observer of one run. `connect` fails early (missing package, unusable store); after that a
    tracking error is a warning and the tracker goes quiet: the run matters more than its copy."""

    def __init__(self, client: Any, experiment: str) -> None:
        self.client, self.experiment = client, experiment
        self.run_id: str | None = None
        self.last_step = 0

    @classmethod
    def connect(cls, uri: str, experiment: str = EXPERIMENT) -> RunTracker:
        return cls(*connect(uri, experiment))

    def begin(self, folder: Path, config: dict[str, Any], name: str | None = None) -> None:
        """Start the MLflow run of `folder`, or continue the one a killed run left (`--resume`)."""
        try:
            self._begin(folder, config, name)
        except Exception as e:
            log.warning("MLflow logging stopped (the run goes on): %s", _first_line(e))
            self.run_id = None

    def _begin(self, folder: Path, config: dict[str, Any], name: str | None) -> None:
        path = str(folder.resolve())
        run = _find(self.client, self.experiment, FOLDER_TAG, path)
        if run is not None and run.info.status == "FINISHED":
            return  # the run finished and was logged; a resume of it changes nothing
        if run is None:
            tags = {
                FOLDER_TAG: path,
                "promptflux.method": config.get("method"),
                "promptflux.task": config.get("task"),
            }
            run = self.client.create_run(self.experiment, tags=tags, run_name=name or folder.name)
        else:
            self.client.update_run(run.info.run_id, status="RUNNING")
        self.run_id = run.info.run_id
        _log_params(self.client, run, config)

    def on_step(self, step: int, info: dict[str, Any]) -> None:
        self.last_step = step
        self._guard(_log_metrics, self.client, self.run_id, step_metrics(info), step)

    def end(self, result: dict[str, Any], folder: Path) -> None:
        if self._guard(_log_end, self.client, self.run_id, result, folder, self.last_step + 1):
            self._guard(self.client.set_terminated, self.run_id, "FINISHED")

    def fail(self, error: BaseException) -> None:
        """A failed or interrupted run: KILLED on Ctrl-C, else FAILED with the error as a tag."""
        status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        self._guard(self.client.set_tag, self.run_id, "promptflux.error", _first_line(error))
        self._guard(self.client.set_terminated, self.run_id, status)

    def _guard(self, fn: Any, *args: Any) -> bool:
        if self.run_id is None:
            return False
        try:
            fn(*args)
            return True
        except Exception as e:
            log.warning("MLflow logging stopped (the run goes on): %s", _first_line(e))
            self.run_id = None
            return False


def log_folder(client: Any, experiment: str, folder: Path, parent: str | None = None, name: str = "") -> str:
    """A finished run folder as one MLflow run (a comparison's trial): params from config.yaml, step
    metrics from events.jsonl, the end from result.json. Returns the MLflow run id."""
    config = yaml.safe_load((folder / RunFolder.CONFIG).read_text()) or {}
    result = json.loads((folder / RunFolder.RESULT).read_text())
    tags = {
        FOLDER_TAG: str(folder.resolve()),
        "promptflux.method": config.get("method"),
        "promptflux.task": config.get("task"),
    }
    if parent is not None:
        tags[PARENT_TAG] = parent
    run = client.create_run(experiment, tags=tags, run_name=name or folder.name)
    _log_params(client, run, config)
    last = 0
    for event in read_events(folder / RunFolder.EVENTS, "step"):
        last = int(event["step"])
        _log_metrics(client, run.info.run_id, step_metrics(event), last)
    _log_end(client, run.info.run_id, result, folder, last + 1)
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


class CompareTracker:
    """A comparison as one parent run with a nested run per finished trial."""

    def __init__(self, client: Any, experiment: str, parent: str) -> None:
        self.client, self.experiment, self.parent = client, experiment, parent

    @classmethod
    def begin(cls, uri: str, out: Path, grid: dict[str, Any]) -> CompareTracker:
        """Connect and start (or, rerunning the same --out, continue) the comparison's parent run."""
        client, experiment = connect(uri)
        path = str(out.resolve())
        try:
            run = _find(client, experiment, COMPARE_TAG, path)
            if run is None:
                tags = {COMPARE_TAG: path, "promptflux.kind": "compare"}
                run = client.create_run(experiment, tags=tags, run_name=f"compare {out.name}")
            else:
                client.update_run(run.info.run_id, status="RUNNING")
            _log_params(client, run, grid)
        except Exception as e:  # before any trial runs: one line, nothing lost
            raise ConfigError(f"--mlflow-uri {uri}: {_first_line(e)}") from None
        return cls(client, experiment, run.info.run_id)

    def trial(self, folder: Path, name: str = "") -> None:
        """Log a finished trial as a nested run, once (a trial already logged is skipped)."""
        if not (folder / RunFolder.RESULT).exists():
            return
        if _find(self.client, self.experiment, FOLDER_TAG, str(folder.resolve()), self.parent) is None:
            log_folder(self.client, self.experiment, folder, self.parent, name)

    def end(self, out: Path, trials: Iterable[tuple[Path, str]], errors: dict[str, str]) -> None:
        """Every finished trial not logged yet (finished by an earlier call), the report's files, the
        failed trials as a tag; the parent run is FAILED when a trial failed."""
        for folder, name in trials:
            self.trial(folder, name)
        for file in COMPARE_FILES:
            if (out / file).exists():
                self.client.log_artifact(self.parent, str(out / file))
        if errors:
            self.client.set_tag(self.parent, "promptflux.failed_trials", "; ".join(sorted(errors))[:5000])
        self.client.set_terminated(self.parent, "FAILED" if errors else "FINISHED")
