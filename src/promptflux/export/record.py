"""What an exported prompt is: the instruction, the target's full template and the run's evidence.

    run folder (config.yaml, events.jsonl, result.json) -> ranked PromptExport records

Rank 1 is always the prompt the run chose (selected on validation); ranks 2..K are the next
candidates by validation score (ties: the shorter first, as the run selects). The test split was
scored once, for the chosen prompt and the baselines, so a lower-ranked prompt has a test score
only when it is one of those.

Nothing here loads a model or writes to the run folder; the task is loaded (data only) to render
its template exactly as the run rendered it for the target.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from promptflux.errors import ConfigError
from promptflux.evaluation.stats import mean_ci95
from promptflux.runs.events import read_events
from promptflux.runs.folder import RunFolder
from promptflux.tasks.base import ClassificationTask, GenerationTask, Task, Template

FORMAT = "promptflux-export/1"
_INPUT = "\x00promptflux-input\x00"  # stands for the input while the template is rendered


def format_template(template: Template, prompt: str) -> str:
    """The target's input text for `prompt` as a `str.format` template: `{input}` is the only field.

    Rendered by the task's own `Template.render` (so an empty instruction leaves no stray whitespace,
    exactly as the run sent it), with every other brace doubled: `.format(input=x)` gives back what the
    run sent to the target for input x.
    """
    text = template.render(prompt, _INPUT)
    return text.replace("{", "{{").replace("}", "}}").replace(_INPUT, "{input}")


@dataclass(frozen=True)
class Score:
    split: str
    accuracy: float
    ci95: tuple[float, float]
    n: int


@dataclass(frozen=True)
class PromptExport:
    """One exported prompt: everything needed to use it outside promptflux, and how well it did."""

    rank: int
    chosen: bool
    instruction: str
    template: str  # str.format template of the target's input; `{input}` is the only field
    chat: bool  # sent as one user turn through the target's chat template
    task: dict[str, Any]  # name, kind, labels or decoding (max_new_tokens, stop, answer_turn), metric
    target: dict[str, Any]  # spec, base_url, api_key_env (the variable's name; never its value)
    val: Score | None
    test: Score | None
    run: dict[str, Any]  # id, path, method, config_digest, ended
    demos: list[dict[str, str]] = field(default_factory=list)  # id, input, output; inside `template`

    def render(self, input: str) -> str:
        """The target's input for `input`, as the run rendered it."""
        return self.template.format(input=input)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PromptExport:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConfigError(f"not a promptflux prompt export (expected format {FORMAT!r})")
        fields = {k: v for k, v in data.items() if k != "format"}
        for key in ("val", "test"):
            if fields.get(key) is not None:
                fields[key] = Score(**{**fields[key], "ci95": tuple(fields[key]["ci95"])})
        return cls(**fields)


def load_export(path: str | Path) -> PromptExport:
    """A prompt.json written by `promptflux export`, read back."""
    path = Path(path)
    try:
        return PromptExport.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as e:
        raise ConfigError(f"cannot read the prompt export {path}: {e}") from None


def config_digest(config: dict[str, Any]) -> str:
    """sha256 of the run config as canonical JSON: two runs with the same digest ran the same config."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def read_finished_run(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config.yaml, result.json) of a finished run folder, read without locking or writing it."""
    config_file, result_file = path / RunFolder.CONFIG, path / RunFolder.RESULT
    if not config_file.is_file():
        raise ConfigError(f"{path} is not a run folder (no {RunFolder.CONFIG}); give a run or trial folder")
    if not result_file.is_file():
        raise ConfigError(
            f"run {path} has not finished (no {RunFolder.RESULT}); finish it with "
            f"`promptflux optimize --resume {path}` first"
        )
    try:
        config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
        result = json.loads(result_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read run {path}: {type(e).__name__}: {str(e).splitlines()[0]}") from None
    if not isinstance(config, dict) or not isinstance(result, dict) or "prompts" not in result:
        raise ConfigError(f"run {path} does not hold a run config and result; not exporting it")
    return config, result


def ranked_prompts(events: Path, result: dict[str, Any]) -> list[tuple[str, float | None, Score | None]]:
    """(prompt, validation accuracy, validation score) by rank: the chosen one, then the other
    validated candidates by validation accuracy (the shorter first among ties)."""
    val_split = result.get("val_split", "dev")
    validated: dict[str, Score] = {}
    tokens: dict[str, int] = {}
    for e in read_events(events, kind="validation"):
        if e.get("demos"):  # the chosen instruction with demonstrations: see chosen_with_demos
            continue
        if e["prompt"] not in validated and e.get("scores") and not e.get("dropped"):  # raced out: partial
            mean, low, high = mean_ci95(e["scores"])
            validated[e["prompt"]] = Score(e.get("split", val_split), mean, (low, high), len(e["scores"]))
            tokens[e["prompt"]] = e.get("prompt_tokens") or 0
    penalty = (result.get("selection") or {}).get("length_penalty") or 0.0  # rank as the run selected

    def rank(p: str) -> tuple[float, int]:
        return (-(validated[p].accuracy - penalty * tokens[p]), len(p))

    chosen = result["best_prompt"]
    others = sorted((p for p in validated if p != chosen), key=rank)
    rows = []
    for prompt in [chosen, *others]:
        score = validated.get(prompt)
        if score is None:  # a chosen prompt without its validation event (e.g. a hand-made folder)
            val = result["prompts"]["chosen"].get("val")
            rows.append((prompt, val, None))
        else:
            rows.append((prompt, score.accuracy, score))
    return rows


def test_score(result: dict[str, Any], prompt: str, split: str) -> Score | None:
    """The run's test score of `prompt`, when it scored one (the chosen prompt and the baselines)."""
    for row in result["prompts"].values():
        if row["prompt"] == prompt and row.get("test") is not None:
            low, high = row["test_ci95"]
            return Score(split, row["test"], (low, high), row["test_n"])
    return None


def task_description(task: Task) -> dict[str, Any]:
    """How the target was asked: classification labels, or generation decoding and metric."""
    if isinstance(task, ClassificationTask):
        return {
            "name": task.name,
            "kind": "classification",
            "labels": list(task.labels),
            "scoring": "the label whose continuation has the highest log-probability after the template",
        }
    if isinstance(task, GenerationTask):
        params = task.params
        out: dict[str, Any] = {
            "name": task.name,
            "kind": "generation",
            "max_new_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "stop": list(params.stop),
            "metric": getattr(task.metric, "__name__", type(task.metric).__name__),
            "answer_turn": task.answer_turn,
        }
        if task.answer_turn is not None:
            out["first_round_max_new_tokens"] = task.first_round.max_new_tokens
        return out
    return {"name": task.name, "kind": type(task).__name__}


def build_exports(path: Path, top: int = 1) -> list[PromptExport]:
    """The `top` best prompts of the finished run in `path` (rank 1 = the one the run chose)."""
    from promptflux.recipe import RunSpec
    from promptflux.tasks import get_task

    if top < 1:
        raise ConfigError(f"--top must be at least 1, got {top}")
    config, result = read_finished_run(path)
    try:
        spec = RunSpec.model_validate(config)
    except ValidationError as e:
        raise ConfigError(f"{path / RunFolder.CONFIG}: {' '.join(str(e).splitlines()[1:3])}") from None
    task = get_task(spec.task, seed=spec.data_seed, **spec.task_options)
    run = {
        "id": path.resolve().name,
        "path": str(path.resolve()),
        "method": result.get("method", spec.method),
        "task": spec.task,
        "config_digest": config_digest(config),
        "ended": result.get("ended"),
        "stopped": result.get("stopped"),
        "test_examples": spec.test_examples,
    }
    reach = spec.model_options(role="target")  # the target's own server, if it has one
    target = {"spec": spec.target, "base_url": reach.base_url, "api_key_env": reach.api_key_env}
    exports = []
    for rank, (prompt, _, val) in enumerate(ranked_prompts(path / RunFolder.EVENTS, result)[:top], 1):
        shown, demos, test = task, [], test_score(result, prompt, spec.test_split)
        if rank == 1 and result["prompts"]["chosen"].get("demos"):
            shown, demos, val, test = chosen_with_demos(path, task, result, spec.test_split)
        exports.append(
            PromptExport(
                rank=rank,
                chosen=rank == 1,
                instruction=prompt,
                template=format_template(shown.template, prompt),
                chat=task.template.chat,
                task=task_description(task),
                target=target,
                val=val,
                test=test,
                run=run,
                demos=demos,
            )
        )
    return exports


def chosen_with_demos(
    path: Path, task: Task, result: dict[str, Any], test_split: str
) -> tuple[Task, list[dict[str, str]], Score | None, Score | None]:
    """The chosen prompt with its demonstrations: the task rendering them (looked up by id in the
    training split, checked against what the run recorded), the record, and both scores with them."""
    row = result["prompts"]["chosen"]
    train = {ex.id: ex for ex in task.split("train")}
    missing = [d["id"] for d in row["demos"] if d["id"] not in train or train[d["id"]].input != d["input"]]
    if missing:
        raise ConfigError(
            f"run {path}: demonstrations {missing} are not in the task's training split as recorded"
        )
    shown = task.with_demos([train[d["id"]] for d in row["demos"]])
    ids = [d["id"] for d in row["demos"]]
    val = None
    for e in read_events(path / RunFolder.EVENTS, kind="validation"):
        if e["prompt"] == row["prompt"] and e.get("demos") == ids:
            mean, low, high = mean_ci95(e["scores"])
            val = Score(e["split"], mean, (low, high), len(e["scores"]))
    low, high = row["test_ci95"]
    return shown, row["demos"], val, Score(test_split, row["test"], (low, high), row["test_n"])
