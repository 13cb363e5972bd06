"""Demonstrations with the instruction: rendered in the task's own format, chosen on validation from
training examples only (never worse than none), tested once, and exported so a re-score matches."""

from __future__ import annotations

import json

import numpy as np
import pytest

from promptflux.errors import ConfigError
from promptflux.evaluation.cache import request_key
from promptflux.recipe.demos import DemoSearch, demo_pool, draw_subsets
from promptflux.recipe.objective import LengthObjective
from promptflux.tasks.base import Template
from promptflux.types import Example
from tests.features.scripted import ScriptedTarget, run_scripted, scripted_task
from tests.helpers import toy_generation_task, toy_sentiment_task


def test_a_classification_task_renders_demonstrations_in_its_own_format():
    task = toy_sentiment_task()
    pos, neg = task.split("train")[0], task.split("train")[3]
    shown = task.with_demos([pos, neg])
    query = task.split("train")[1]
    assert shown.request("Classify.", query).context == (
        "Classify.\n\n"
        "Review: a wonderful, moving film\nSentiment: positive\n\n"
        "Review: a dull, boring mess\nSentiment: negative\n"
        "Review: great acting and a clever plot\nSentiment:"
    )
    assert shown.request("", query).context.startswith(
        "Review: a wonderful, moving film\nSentiment: positive"
    )
    assert (
        task.request("Classify.", query).context
        == "Classify.\nReview: great acting and a clever plot\nSentiment:"
    )
    assert task.with_demos([]) is task and task.demos == ()
    # The cache key holds the demonstrations: the same instruction with and without them never mix.
    assert request_key("m", shown.request("Classify.", query)) != request_key(
        "m", task.request("Classify.", query)
    )


def test_a_generation_task_renders_demonstrations_in_its_own_format():
    task = toy_generation_task()
    cat, dog = task.split("train")[:2]
    request = task.with_demos([cat]).request("Upper-case the word.", dog)
    assert request.prompt == "Upper-case the word.\n\nInput: cat\nOutput: CAT\n\nInput: dog\nOutput:"
    assert request.params == task.request("x", dog).params


def test_an_instruction_after_the_input_gets_demonstrations_before_everything():
    template = Template("{input}\n\n{prompt}", chat=True)
    block = template.demo("Q: 1+1?", "2")
    assert block == "Q: 1+1?\nAnswer: 2"
    with_demos = Template(template.text, chat=True, demos=block)
    assert with_demos.render("Think.", "Q: 2+2?") == "Q: 1+1?\nAnswer: 2\n\nQ: 2+2?\n\nThink."


def test_demonstrations_never_come_from_validation_or_test():
    task = scripted_task()
    train = task.split("train")
    leaked = Example("dup", task.split("dev")[0].input, "negative", label=0)
    task.splits["train"] = [*train, leaked, task.split("test")[1]]
    pool = demo_pool(task, "train", ["dev", "test"])
    assert [ex.id for ex in pool] == [ex.id for ex in train]
    subsets = draw_subsets(pool, 2, 5, np.random.default_rng(0))
    assert len(subsets) == 5 and len({tuple(sorted(ex.id for ex in s)) for s in subsets}) == 5
    assert all({ex.label for ex in s} == {0, 1} for s in subsets)  # label-balanced


MAGIC = ("good train #1", "bad train #2")  # the two demonstrations the scripted target rewards


def test_the_search_keeps_the_subset_the_target_rewards_and_tests_once_with_it(tmp_path):
    target = ScriptedTarget({"Classify.": 2}, magic=MAGIC)
    result = run_scripted(tmp_path / "run", target, ["Classify."], demos=DemoSearch(k=2, trials=15, seed=0))
    row = result["prompts"]["chosen"]
    assert [d["input"] for d in sorted(row["demos"], key=lambda d: d["id"])] == list(MAGIC)
    assert row["demos"][0]["output"] in ("positive", "negative")
    assert row["val"] == 1.0 and row["test"] == 1.0  # 2 right + 2 magic demonstrations shown
    assert result["demos"] == {"k": 2, "trials": 15, "search": "after", "kept": 2}
    assert (
        result["prompts"]["no instruction"]["test"] == 0.0
        and "demos" not in result["prompts"]["no instruction"]
    )
    # Validation only: each demonstration set scored on dev; the test split once, for the kept set.
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    tried = [e for e in events if e["kind"] == "validation" and e.get("demos")]
    assert 1 <= len(tried) <= 15 and all(e["split"] == "dev" for e in tried)
    tested = [c for c in target.seen if " test #" in c.split("\n")[-2] and "Classify." in c]
    assert len(tested) == 4 and all(all(f"Review: {m}\n" in c for m in MAGIC) for c in tested)
    assert not any(" dev #" in c.rsplit("Review: ", 1)[0] for c in target.seen)  # never a dev demo


def test_without_a_better_subset_the_instruction_keeps_no_demonstrations(tmp_path):
    target = ScriptedTarget({"Classify.": 4})  # already perfect: no set can beat it, ties keep none
    result = run_scripted(tmp_path / "run", target, ["Classify."], demos=DemoSearch(k=2, trials=3))
    assert result["prompts"]["chosen"]["demos"] == [] and result["demos"]["kept"] == 0
    assert result["prompts"]["chosen"]["val"] == 1.0


def test_the_length_penalty_also_weighs_the_demonstrations(tmp_path):
    target = ScriptedTarget({"Classify.": 2}, magic=MAGIC)
    heavy = LengthObjective(0.1, lambda text: len(text.split()), "words")  # 8 demo words cost 0.8
    result = run_scripted(
        tmp_path / "run", target, ["Classify."], demos=DemoSearch(k=2, trials=15), objective=heavy
    )
    assert result["prompts"]["chosen"]["demos"] == [] and result["prompts"]["chosen"]["prompt_tokens"] == 1


def test_too_few_training_examples_is_a_one_line_error(tmp_path):
    target = ScriptedTarget({"Classify.": 2})
    with pytest.raises(ConfigError, match="lower demos"):
        run_scripted(tmp_path / "run", target, ["Classify."], demos=DemoSearch(k=7))


def test_the_run_config_takes_demos():
    from promptflux.recipe import make_spec

    spec = make_spec("fixed", task="sst2", demos=3, demo_trials=4)
    assert (spec.demos, spec.demo_trials, spec.demo_search) == (3, 4, "after")
    with pytest.raises(ConfigError, match="demo_search"):
        make_spec("fixed", task="sst2", demos=3, demo_search="jointly")


def test_the_cli_takes_demos(tmp_path, cli):
    from tests.optimizers.fakes import review_task_spec

    task = review_task_spec(tmp_path, "{train: 4, dev: 3, test: 3}", copies=1)
    run = tmp_path / "run"
    args = ["optimize", "--task", task, "--method", "fixed", "--set", "instruction=Classify the review."]
    code, err = cli(
        *args, "--target", "tiny-random", "--run-dir", run, "--cache", tmp_path / "c.sqlite", "--demos", "2"
    )
    assert code == 0, err
    result = json.loads((run / "result.json").read_text())
    assert result["demos"]["k"] == 2 and "demos" in result["prompts"]["chosen"]


@pytest.mark.slow
def test_with_smollm2_demonstrations_are_chosen_on_validation_and_the_export_rescores_equal(tmp_path, cli):
    """SmolLM2 as target: the search never ends worse on validation than the bare instruction, and a
    run that kept demonstrations exports a template that re-scores to its test accuracy."""
    from promptflux import recipe
    from promptflux.evaluation import OutputCache
    from promptflux.export import load_export
    from tests.features.test_export import rescore
    from tests.optimizers.fakes import review_task_spec

    task = review_task_spec(tmp_path, "{train: 4, dev: 3, test: 3}", copies=1)
    spec = recipe.make_spec(
        "fixed", "default", {"instruction": "Is the review positive or negative?"}, task=task,
        target="smollm2", demos=2, demo_trials=4,
    )  # fmt: skip
    cache = OutputCache(tmp_path / "cache.sqlite")
    try:
        result = recipe.run(spec, tmp_path / "run", cache=cache)
    finally:
        cache.close()
    events = [json.loads(x) for x in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    bare = next(e["accuracy"] for e in events if e["kind"] == "validation" and not e.get("demos"))
    tried = [e["accuracy"] for e in events if e["kind"] == "validation" and e.get("demos")]
    row = result["prompts"]["chosen"]
    assert tried and row["val"] == max([bare, *tried]) >= bare
    assert (len(row["demos"]) == 2) == (max(tried) > bare)
    code, err = cli("export", tmp_path / "run")
    assert code == 0, err
    chosen = load_export(tmp_path / "run" / "export" / "prompt.json")
    assert chosen.demos == row["demos"]
    assert rescore(chosen, "smollm2", task, "test", None) == row["test"]
