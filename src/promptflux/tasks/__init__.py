"""Tasks: benchmark examples in named splits, how a prompt meets an input, and how output is scored.

    from promptflux.tasks import get_task, list_tasks
    task = get_task("sst2", seed=13)          # RLPrompt 16-shot, data seed 13
    task = get_task("bbh/navigate")           # GPO's BBH splits
    task = get_task("custom:my_task.yaml")    # your CSV/TSV/JSONL + a small spec

All benchmark data ships inside the package (`tasks/data/`, see its SOURCES.md for origins and
licences). To add a benchmark: write one loader module and add one entry in `registry._entries()`.
"""

from promptflux.tasks.base import ClassificationTask, GenerationTask, Metric, Task, Template
from promptflux.tasks.custom import CustomTaskSpec
from promptflux.tasks.metrics import METRICS
from promptflux.tasks.registry import TaskInfo, get_task, list_tasks

__all__ = [
    "METRICS",
    "ClassificationTask",
    "CustomTaskSpec",
    "GenerationTask",
    "Metric",
    "Task",
    "TaskInfo",
    "Template",
    "get_task",
    "list_tasks",
]
