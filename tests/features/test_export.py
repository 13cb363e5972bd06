"""`promptflux export`: the exported files give back what the run sent to its target and scored.

The central check re-scores the exported prompt from the export files alone (template.txt, the labels
in prompt.json) on a freshly loaded target with no cache, and must reach the test accuracy the run
reported.
"""

from __future__ import annotations

import json
import runpy
import shutil
import sys
import types
from pathlib import Path
from typing import ClassVar

import pytest

from promptflux.errors import ConfigError
from promptflux.export import PromptExport, export_path, export_run, format_template, load_export
from promptflux.export.record import Score
from promptflux.models import load_model
from promptflux.recipe.driver import fixed_subsample
from promptflux.tasks import get_task
from promptflux.tasks.base import Template
from promptflux.types import ScoreRequest
from tests.faults.conftest import one_line, quick_run, result_of


def rescore(export: PromptExport, target: str, task_spec: str, split: str, n: int | None) -> float:
    """Accuracy of the exported prompt from the export alone: its template file, labels and chat flag."""
    examples = fixed_subsample(get_task(task_spec).split(split), n)
    model = load_model(target)  # a fresh instance: nothing cached from the run
    labels = export.task["labels"]
    requests = [
        ScoreRequest(export.render(ex.input), tuple(" " + label for label in labels), chat=export.chat)
        for ex in examples
    ]
    right = 0
    for ex, out in zip(examples, model.score(requests)):
        predicted = max(range(len(labels)), key=out.logprobs.__getitem__)
        right += labels[predicted] == ex.target
    model.close()
    return right / len(examples)


def test_format_template_gives_back_the_rendered_input_with_braces_anywhere():
    template = Template('{prompt}\nJSON {"q": {input}}\nAnswer:')
    for prompt in ("Answer in {braces}.", "", "  padded  "):
        text = format_template(template, prompt)
        for value in ("plain", "with {input} and {0} inside", "}{"):
            assert text.format(input=value) == template.render(prompt, value)


def test_export_files_rescore_to_the_runs_test_accuracy(tmp_path, tagging, task, cli):
    result = quick_run(tmp_path / "run", task)
    code, err = cli("export", tmp_path / "run", "--top", "3")
    assert code == 0, err
    out = tmp_path / "run" / "export"
    chosen = load_export(out / "prompt.json")
    assert chosen.rank == 1 and chosen.chosen
    assert chosen.instruction == result["best_prompt"] == (out / "prompt.txt").read_text().rstrip("\n")
    assert (out / "template.txt").read_text() == chosen.template
    row = result["prompts"]["chosen"]
    assert chosen.val.accuracy == pytest.approx(row["val"])
    assert chosen.test.accuracy == row["test"] and list(chosen.test.ci95) == row["test_ci95"]
    assert chosen.target["spec"] == "tiny-random" and chosen.run["id"] == "run"
    assert chosen.run["config_digest"].startswith("sha256:")

    # The template file renders every example exactly as the task did for the target.
    examples = get_task(task).split("test")
    for ex in examples:
        assert (out / "template.txt").read_text().format(input=ex.input) == get_task(task).template.render(
            chosen.instruction, ex.input
        )
    assert rescore(chosen, "tiny-random", task, "test", None) == row["test"]

    ranks = [chosen] + [load_export(out / f"rank-{k}" / "prompt.json") for k in (2, 3)]
    vals = [e.val.accuracy for e in ranks]
    assert [e.rank for e in ranks] == [1, 2, 3] and len({e.instruction for e in ranks}) == 3
    assert vals[1] >= vals[2] and vals[0] >= vals[1]  # the chosen prompt is the best by validation
    validated = {
        json.loads(line)["prompt"]
        for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()
        if '"kind":"validation"' in line
    }
    assert {e.instruction for e in ranks} <= validated


def test_an_export_with_demonstrations_rescores_to_the_runs_test_accuracy(
    tmp_path, tagging, cli, monkeypatch
):
    import promptflux.recipe.driver as driver
    from tests.optimizers.fakes import review_task_spec

    # The tiny random target scores the same with or without demonstrations, so keeping none would win
    # every tie: count the bare instruction as 0 on validation, so the best demonstration set is kept.
    search = driver.search_demos
    monkeypatch.setattr(driver, "search_demos", lambda prompt, val, *a, **kw: search(prompt, -1.0, *a, **kw))
    task = review_task_spec(tmp_path, "{train: 4, dev: 3, test: 3}", copies=1)
    result = quick_run(tmp_path / "run", task, demos=2, demo_trials=6)
    row = result["prompts"]["chosen"]
    assert len(row["demos"]) == 2, (
        "the scripted run should keep demonstrations (else this test checks nothing)"
    )
    code, err = cli("export", tmp_path / "run")
    assert code == 0, err
    out = tmp_path / "run" / "export"
    chosen = load_export(out / "prompt.json")
    assert chosen.demos == row["demos"] and chosen.instruction == result["best_prompt"]
    assert chosen.val.accuracy == pytest.approx(row["val"]) and chosen.test.accuracy == row["test"]
    shown = get_task(task).with_demos(
        [{e.id: e for e in get_task(task).split("train")}[d["id"]] for d in row["demos"]]
    )
    for ex in get_task(task).split("test"):
        assert chosen.render(ex.input) == shown.template.render(chosen.instruction, ex.input)
        assert all(
            f"Review: {d['input']}\nSentiment: {d['output']}" in chosen.render(ex.input) for d in row["demos"]
        )
    assert "2 demonstrations" in (out / "openai_client.py").read_text()
    assert rescore(chosen, "tiny-random", task, "test", None) == row["test"]


def test_a_two_digit_top_exports_only_what_was_validated(tmp_path, tagging, task):
    quick_run(tmp_path / "run", task)
    done = export_run(tmp_path / "run", tmp_path / "out", top=99)
    validated = result_of(tmp_path / "run")["candidates_validated"]
    assert len(done.prompts) == validated
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir()) == sorted(
        f"rank-{k}" for k in range(2, validated + 1)
    )


def test_a_comparison_folder_exports_every_finished_trial(tmp_path, tagging, task):
    run = tmp_path / "run"
    quick_run(run, task)
    cmp = tmp_path / "cmp"
    for label in ("opro", "opro-2"):
        shutil.copytree(run, cmp / "trials" / "custom-reviews" / label / "seed-0")
    (cmp / "trials" / "custom-reviews" / "late" / "seed-0").mkdir(parents=True)  # not finished
    (cmp / "compare.yaml").write_text("tasks: [x]\n")
    done = export_path(cmp, tmp_path / "out")
    assert [d.out.relative_to(tmp_path / "out").as_posix() for d in done] == [
        "custom-reviews/opro/seed-0",
        "custom-reviews/opro-2/seed-0",
    ]
    assert all((d.out / "prompt.json").is_file() for d in done)


def test_bad_export_inputs_are_one_line_errors(tmp_path, tagging, task, cli):
    code, err = cli("export", tmp_path / "nothing")
    assert code == 2 and "is not a folder" in one_line(err)
    quick_run(tmp_path / "run", task, stop_after=0)  # interrupted: no result.json
    code, err = cli("export", tmp_path / "run")
    assert code == 2 and "has not finished" in one_line(err) and "--resume" in err
    code, err = cli("export", tmp_path / "run", "--top", "0")
    assert code == 2 and "--top" in one_line(err)
    with pytest.raises(ConfigError, match="not a promptflux prompt export"):
        (tmp_path / "bad.json").write_text("{}")
        load_export(tmp_path / "bad.json")


class FakeOpenAI:
    """Stands in for `openai.OpenAI`: records every request, answers from `reply`."""

    calls: ClassVar[list[dict]] = []
    reply = "positive, clearly"

    def __init__(self, base_url, api_key):
        self.base_url, self.api_key = base_url, api_key
        self.chat = types.SimpleNamespace(completions=types.SimpleNamespace(create=self._chat))
        self.completions = types.SimpleNamespace(create=self._complete)

    def _chat(self, **kwargs):
        FakeOpenAI.calls.append({"endpoint": "chat", **kwargs})
        message = types.SimpleNamespace(content=FakeOpenAI.reply)
        return types.SimpleNamespace(choices=[types.SimpleNamespace(message=message)])

    def _complete(self, **kwargs):
        FakeOpenAI.calls.append({"endpoint": "completions", **kwargs})
        return types.SimpleNamespace(choices=[types.SimpleNamespace(text=FakeOpenAI.reply)])


def load_snippet(path: Path, monkeypatch) -> dict:
    monkeypatch.setitem(sys.modules, "openai", types.SimpleNamespace(OpenAI=FakeOpenAI))
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:9/v1")
    monkeypatch.setenv("MY_KEY", "secret-from-env")
    FakeOpenAI.calls = []
    return runpy.run_path(str(path))


def export_of(task: dict, template: str, chat: bool) -> PromptExport:
    return PromptExport(
        rank=1,
        chosen=True,
        instruction="Answer {well}.",
        template=template,
        chat=chat,
        task=task,
        target={"spec": "openai:served-model", "base_url": None, "api_key_env": "MY_KEY"},
        val=Score("dev", 0.5, (0.2, 0.8), 10),
        test=None,
        run={"id": "r", "method": "opro", "task": "t", "config_digest": "sha256:0"},
    )


def test_the_openai_snippet_sends_the_rendered_template_and_reads_a_label(tmp_path, monkeypatch):
    task = {"name": "t", "kind": "classification", "labels": ["negative", "positive"]}
    export = export_of(task, "Answer {{well}}.\nReview: {input}\nSentiment:", chat=False)
    from promptflux.export import write_export

    write_export(export, tmp_path)
    assert "secret-from-env" not in (tmp_path / "openai_client.py").read_text()
    snippet = load_snippet(tmp_path / "openai_client.py", monkeypatch)
    assert snippet["answer"]("a fine film") == "positive"
    (call,) = FakeOpenAI.calls
    assert call["endpoint"] == "completions" and call["model"] == "served-model"
    assert call["prompt"] == "Answer {well}.\nReview: a fine film\nSentiment:"
    assert call["temperature"] == 0
    FakeOpenAI.reply = "I cannot tell"
    assert snippet["answer"]("x") is None
    FakeOpenAI.reply = "positive, clearly"


def test_the_openai_snippet_of_a_two_round_task_continues_the_conversation(tmp_path, monkeypatch):
    task = {
        "name": "t",
        "kind": "generation",
        "max_new_tokens": 12,
        "stop": ["\n"],
        "answer_turn": "So the final answer is?",
        "first_round_max_new_tokens": 200,
    }
    export = export_of(task, "Q: {input}\nAnswer {{well}}.", chat=True)
    from promptflux.export import write_export

    write_export(export, tmp_path)
    snippet = load_snippet(tmp_path / "openai_client.py", monkeypatch)
    assert snippet["answer"]("2+2?") == "positive, clearly"
    first, second = FakeOpenAI.calls
    assert first["messages"] == [{"role": "user", "content": "Q: 2+2?\nAnswer {well}."}]
    assert first["max_tokens"] == 200 and first["stop"] is None
    assert second["messages"][1:] == [
        {"role": "assistant", "content": "positive, clearly"},
        {"role": "user", "content": "So the final answer is?"},
    ]
    assert second["max_tokens"] == 12 and second["stop"] == ["\n"]


@pytest.mark.slow
def test_an_export_from_a_real_model_run_rescores_to_its_test_accuracy(tmp_path, tagging, task):
    """SmolLM2 as the target: the exported chosen prompt, re-scored from its files, matches the run."""
    from promptflux import recipe
    from promptflux.evaluation import OutputCache

    spec = recipe.make_spec(
        "opro", "quick", {"steps": 2}, task=task, target="smollm2", optimizer_model="tagging"
    )
    result = recipe.run(spec, tmp_path / "run", cache=OutputCache(tmp_path / "cache.sqlite"))
    (chosen,) = export_run(tmp_path / "run").prompts
    assert chosen.instruction == result["best_prompt"]
    assert rescore(chosen, "smollm2", task, "test", None) == result["prompts"]["chosen"]["test"]
