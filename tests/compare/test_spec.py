"""The comparison spec: YAML or flags into one validated grid, and one-line errors saying what to fix."""

from __future__ import annotations

import pytest

from promptflux.compare.spec import build_spec, load_spec, parse_seeds, parse_spec
from promptflux.errors import ConfigError
from promptflux.models.defaults import DEFAULT_TARGET

BASE = {"tasks": ["sst2"], "methods": ["fixed"], "max_target_calls": 100}


def test_a_yaml_grid_loads_with_names_and_method_entries(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(
        "tasks: [sst2, trec]\n"
        "task_options: {trec: {rendering: gpo}}\n"
        "methods:\n"
        "  - fixed\n"
        "  - {name: fixed, label: human, set: {instruction: Classify the review.}}\n"
        "  - {name: gpo, preset: quick, set: {steps: 3}}\n"
        "seeds: [0, 1, 2]\n"
        "max_target_calls: 500\n"
        "max_optimizer_calls: 80\n"
        "test_examples: 200\n"
        "jobs: 2\n"
    )
    spec = load_spec(path)
    assert [m.key for m in spec.methods] == ["fixed", "human", "gpo"]
    assert spec.method("human").set == {"instruction": "Classify the review."}
    assert spec.method("gpo").preset == "quick" and spec.preset == "default"
    assert spec.task_options == {"trec": {"rendering": "gpo"}} and spec.seeds == [0, 1, 2]
    assert (spec.max_target_calls, spec.max_optimizer_calls, spec.test_examples, spec.jobs) == (
        500,
        80,
        200,
        2,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_target_calls": None}, "max_target_calls: required: the shared budget of target calls"),
        ({"max_target_calls": 0}, "max_target_calls: Input should be greater than or equal to 1"),
        ({"tasks": None}, "tasks: required, e.g. --tasks sst2,trec"),
        ({"methods": []}, "methods: List should have at least 1 item"),
        ({"methods": ["fixed", "fixed"]}, "method 'fixed' appears twice; give the repeats distinct labels"),
        ({"methods": [{"name": "gpo", "label": "a b"}]}, "label 'a b' must be letters, digits"),
        ({"methods": [{"name": "gpo", "set": {"seed": 3}}]}, "'seed' comes from the comparison's `seeds`"),
        ({"seeds": [0, 0]}, "seed 0 is listed twice"),
        ({"tasks": ["sst2", "sst2"]}, "task sst2 is listed twice"),
        ({"task_options": {"trec": {}}}, "task_options names 'trec', which is not in `tasks`"),
        ({"budget": 5}, "budget: unknown key"),
        ({"test_examples": 0}, "test_examples"),
    ],
)
def test_bad_specs_are_one_line_errors(change, message):
    data = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    with pytest.raises(ConfigError) as err:
        parse_spec(data)
    text = str(err.value)
    assert message in text and "\n" not in text


def test_flags_win_over_the_file_and_sets_reach_the_named_method():
    base = {**BASE, "methods": ["fixed", {"name": "opro", "set": {"steps": 5}}], "seeds": [0, 1]}
    flags = {"seeds": [3], "max_target_calls": 50, "target": None, "methods": None}
    spec = build_spec(base, flags, {"opro.candidates_per_step": 2, "fixed.instruction": "Hi"})
    assert spec.seeds == [3] and spec.max_target_calls == 50 and spec.target == DEFAULT_TARGET
    assert spec.method("opro").set == {"steps": 5, "candidates_per_step": 2}
    assert spec.method("fixed").set == {"instruction": "Hi"}
    # --methods replaces the file's list; a --set naming a method not in the grid is an error
    assert [m.key for m in build_spec(base, {"methods": ["ape"]}, {}).methods] == ["ape"]
    with pytest.raises(ConfigError, match="no method 'gpo' in the comparison"):
        build_spec(base, {}, {"gpo.steps": 2})
    with pytest.raises(ConfigError, match=r"expects method\.key=value"):
        build_spec(base, {}, {"steps": 2})


def test_a_set_by_label_touches_only_that_entry():
    base = {**BASE, "methods": ["fixed", {"name": "fixed", "label": "human"}]}
    spec = build_spec(base, {}, {"human.instruction": "Be brief."})
    assert spec.method("fixed").set == {} and spec.method("human").set == {"instruction": "Be brief."}


def test_seeds_flag():
    assert parse_seeds("0, 1,2") == [0, 1, 2]
    with pytest.raises(ConfigError, match="comma-separated integers"):
        parse_seeds("0,one")


def test_saved_spec_holds_no_secret_values():
    spec = parse_spec({**BASE, "methods": [{"name": "fixed", "set": {"api_key": "sk-1"}}]})
    assert "sk-1" not in str(spec.saved()) and spec.saved()["api_key_env"] == "OPENAI_API_KEY"


def test_narrowing_tasks_by_flag_drops_the_options_of_the_others():
    base = {**BASE, "tasks": ["sst2", "subj"], "task_options": {"subj": {"dev": "test"}}}
    assert build_spec(base, {"tasks": ["sst2"]}, {}).task_options == {}
    assert build_spec(base, {"tasks": ["subj"]}, {}).task_options == {"subj": {"dev": "test"}}
    assert build_spec(base, {}, {}).task_options == {"subj": {"dev": "test"}}
