"""Run folders shared by every optimizer: resolved config, append-only event log, atomic checkpoints.

A run folder is everything needed to inspect, report on or resume a run:

    config.yaml        the resolved configuration (no secrets)
    events.jsonl       one JSON object per line, appended and flushed as things happen
    ledger.sqlite      every answer the run paid for (its spend, recountable after any crash)
    checkpoint/        the latest consistent training state as data only (JSON + safetensors),
                       replaced atomically
    result.json        the final selection and test scores (when the run finished), written last
    run.lock/.owner    held by the one process running it (see folder.py)

Reports and plots are pure functions of `events.jsonl`.
"""

from promptflux.runs.events import EventLog, read_events
from promptflux.runs.folder import RunFolder

__all__ = ["EventLog", "RunFolder", "read_events"]
