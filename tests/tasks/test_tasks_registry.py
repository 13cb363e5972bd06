"""Every registered task loads with its documented split sizes; names, options and seeds are checked."""

from __future__ import annotations

import pytest

from promptflux.errors import ConfigError
from promptflux.tasks import _data, registry
from promptflux.tasks.base import ClassificationTask, GenerationTask
from promptflux.tasks.registry import get_task, list_tasks

ALL_NAMES = [info.name for info in list_tasks()]


def test_registry_lists_every_family() -> None:
    names = set(ALL_NAMES)
    assert {"sst2", "mr", "cr", "subj", "trec", "agnews", "yelp2", "gsm8k", "wsc"} <= names
    assert sum(n.startswith("ii/") for n in names) == 24
    assert sum(n.startswith("bbh/") for n in names) == 27
    assert sum(n.startswith("mmlu/") for n in names) == 57
    assert len(names) == len(ALL_NAMES) == 7 + 24 + 27 + 57 + 2


@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_task_loads_with_nonempty_splits(name: str) -> None:
    task = get_task(name)
    info = next(i for i in list_tasks() if i.name == name)
    assert task.name == name
    assert isinstance(task, ClassificationTask if info.kind == "classification" else GenerationTask)
    assert {"train", "dev"} <= set(task.splits)
    assert all(task.splits[s] for s in task.splits), task
    if info.sizes is not None:
        assert {s: len(v) for s, v in task.splits.items()} == dict(info.sizes)
    ids = [ex.id for split in task.splits.values() for ex in split]
    assert len(ids) == len(set(ids)), "example ids must be unique within a task"
    assert task.description and info.licence


@pytest.mark.parametrize(
    ("name", "sizes"),
    [
        ("sst2", {"train": 32, "dev": 32, "test": 1821}),
        ("mr", {"train": 32, "dev": 32, "test": 2000}),
        ("cr", {"train": 32, "dev": 32, "test": 2000}),
        ("subj", {"train": 32, "dev": 32, "test": 2000}),
        ("trec", {"train": 96, "dev": 96, "test": 500}),
        ("agnews", {"train": 64, "dev": 64, "test": 7600}),
        ("yelp2", {"train": 32, "dev": 32}),
        ("bbh/navigate", {"train": 48, "dev": 48, "test": 144, "few_shot": 5, "format": 5}),
        ("bbh/snarks", {"train": 33, "dev": 33, "test": 102, "few_shot": 5, "format": 5}),
        ("mmlu/anatomy", {"train": 20, "dev": 20, "test": 60, "few_shot": 4, "format": 5}),
        ("gsm8k", {"train": 100, "dev": 100, "test": 300, "few_shot": 5, "format": 5}),
        ("wsc", {"train": 50, "dev": 50, "test": 150, "few_shot": 10, "format": 10}),
        ("ii/sum", {"train": 32, "dev": 32, "pool": 4950 - 64, "test": 100}),
        ("ii/cause_and_effect", {"train": 13, "dev": 13, "test": 25}),
        ("ii/common_concept", {"train": 9, "dev": 8, "test": 16}),
        ("ii/informal_to_formal", {"train": 8, "dev": 7, "test": 15}),
    ],
)
def test_documented_sizes(name: str, sizes: dict[str, int]) -> None:
    task = get_task(name)
    assert {s: len(v) for s, v in task.splits.items()} == sizes


def test_instruction_induction_execute_sizes() -> None:
    small = {"cause_and_effect": 25, "common_concept": 16, "informal_to_formal": 15}
    for name in (n for n in ALL_NAMES if n.startswith("ii/")):
        assert len(get_task(name).split("test")) == small.get(name[3:], 100), name


def test_yelp2_has_no_test_split() -> None:
    with pytest.raises(ConfigError, match="no split 'test'"):
        get_task("yelp2").split("test")


def test_bbh_membership_partitions_all_6511_examples() -> None:
    membership = _data.gpo_membership("bbh")
    total = 0
    for task, splits in membership.items():
        indices = [i for members in splits.values() for i in members]
        n = len(_data.read_json(f"bbh/data/{task}.json")["examples"])
        assert sorted(indices) == list(range(n)), task
        total += n
    assert total == 6511


def test_gpo_mmlu_and_gsm8k_totals() -> None:
    mmlu = _data.gpo_membership("mmlu")
    totals = {s: sum(len(subject[s]) for subject in mmlu.values()) for s in next(iter(mmlu.values()))}
    assert totals == {"train": 1140, "dev": 1140, "test": 3410, "few_shot": 228, "format": 285}
    sources = {s: {src for subject in mmlu.values() for src, _ in subject[s]} for s in totals}
    assert sources == {
        "train": {"test"},
        "dev": {"test"},
        "test": {"test"},
        "few_shot": {"dev"},
        "format": {"val_sep2020"},
    }
    gsm = _data.gpo_membership("gsm8k")
    assert {src for src, _ in gsm["test"]} == {"test"}
    assert {src for s in ("train", "dev", "few_shot", "format") for src, _ in gsm[s]} == {"train"}


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(ConfigError, match=r"unknown task 'sst-2'; did you mean 'sst2'"):
        get_task("sst-2")
    with pytest.raises(ConfigError, match="'bbh/navigate'"):
        get_task("bbh/navigat")
    with pytest.raises(ConfigError, match="see list_tasks"):
        get_task("qqqqqq")


def test_options_and_seeds_are_checked() -> None:
    with pytest.raises(ConfigError, match="no option 'verbaliser'"):
        get_task("sst2", verbaliser="rlprompt")
    with pytest.raises(ConfigError, match="data seed must be one of"):
        get_task("sst2", seed=7)
    with pytest.raises(ConfigError, match="takes no seed"):
        get_task("bbh/navigate", seed=1)
    with pytest.raises(ConfigError, match="unknown verbalizer"):
        get_task("sst2", verbalizer="nope")


def test_classification_seeds_and_verbalizers() -> None:
    default, other = get_task("sst2"), get_task("sst2", seed=13)
    assert default.split("train")[0].id == "sst2/16-100/train/0"
    assert other.split("train")[0].id == "sst2/16-13/train/0"
    assert [e.input for e in default.split("train")] != [e.input for e in other.split("train")]
    assert default.split("test")[0] == other.split("test")[0]  # one test file for all seeds
    assert default.labels == ("negative", "positive")
    rl = get_task("sst2", verbalizer="rlprompt")
    assert rl.labels == ("terrible", "great")
    assert [e.target for e in rl.split("train")] == [
        ("terrible", "great")[e.label] for e in rl.split("train")
    ]
    assert {e.target for e in rl.split("train")} == {"terrible", "great"}
    assert get_task("trec").labels[-1] == "Number"
    assert get_task("agnews", verbalizer="rlprompt").labels == ("World", "Sports", "Business", "Tech")


def test_train_files_keep_upstream_label_order() -> None:
    labels = [e.label for e in get_task("sst2").split("train")]
    assert labels == sorted(labels)  # why callers must shuffle before taking demonstrations


def test_subj_dev_equals_train_upstream_quirk() -> None:
    task = get_task("subj")
    assert [e.input for e in task.split("dev")] == [e.input for e in task.split("train")]
    assert "identical" in task.description


def test_dev_held_out_of_test_is_balanced_seeded_and_removed_from_test() -> None:
    plain, held = get_task("subj"), get_task("subj", dev="test")
    dev, test = held.split("dev"), held.split("test")
    assert len(dev) == 32 and sorted(e.label for e in dev) == [0] * 16 + [1] * 16
    assert {e.id for e in dev}.isdisjoint(e.id for e in test) and len(dev) + len(test) == 2000
    assert {e.input for e in dev}.isdisjoint(e.input for e in held.split("train"))
    assert held.split("train") == plain.split("train")
    assert [e.id for e in get_task("subj", dev="test").split("dev")] == [e.id for e in dev]  # seeded
    assert [e.id for e in get_task("subj", seed=13, dev="test").split("dev")] != [e.id for e in dev]
    with pytest.raises(ConfigError, match="dev must be"):
        get_task("yelp2", dev="test")


def test_instruction_induction_answers_and_gold_instructions() -> None:
    wic = get_task("ii/word_in_context").split("test")[0]
    assert set(wic.accepted) >= {"not the same", "no", "false"}
    trans = get_task("ii/translation_en-de").split("test")[0]
    assert trans.target in trans.accepted and len(trans.accepted) > 1
    concept = get_task("ii/common_concept").split("test")[0]
    assert concept.input == "rock climbing, elevators, helicopters"
    assert concept.accepted == ("involve vertical movement.", "involve going up.")
    task = get_task("ii/antonyms")
    assert task.reference_instructions and all(isinstance(s, str) for s in task.reference_instructions)
    assert task.metric.__name__ == "exact_match"
    assert get_task("ii/synonyms").metric.__name__ == "contains"
    assert get_task("ii/taxonomy_animal").metric.__name__ == "exact_set"
    assert get_task("ii/informal_to_formal").metric.__name__ == "f1"


def test_sorted_induce_files_warn_and_shuffled_split_fixes_them(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        paper = get_task("ii/diff")
    assert "--task-option split=shuffled" in caplog.text
    assert {e.input.split()[1] for e in paper.split("dev")} == {"0"}  # why the paper's dev cannot select
    shuffled = get_task("ii/diff", split="shuffled")
    assert len({e.input.split()[1] for e in shuffled.split("dev")}) > 5
    parts = [{e.id for e in shuffled.split(name)} for name in ("train", "dev", "pool")]
    assert sum(map(len, parts)) == len(set().union(*parts)) == len(_induce_ids("diff"))  # a partition
    assert [e.id for e in shuffled.split("test")] == [e.id for e in paper.split("test")]
    assert [e.id for e in get_task("ii/diff", split="shuffled").split("dev")] == [
        e.id for e in shuffled.split("dev")
    ]  # seeded
    assert get_task("ii/diff", split="shuffled", split_seed=1).split("dev") != shuffled.split("dev")
    caplog.clear()
    with caplog.at_level("WARNING"):
        get_task("ii/antonyms")
    assert not caplog.text
    with pytest.raises(ConfigError, match="split must be 'paper' or 'shuffled'"):
        get_task("ii/diff", split="random")


def _induce_ids(task: str) -> set[str]:
    paper = get_task(f"ii/{task}")
    return {e.id for name in ("train", "dev", "pool") for e in paper.split(name)}


def test_cause_and_effect_order_alternates() -> None:
    train = get_task("ii/cause_and_effect").split("train")
    assert train[0].input.startswith(f"Sentence 1: {train[0].target}")
    assert train[1].input.endswith(f"Sentence 2: {train[1].target}")


def test_gpo_tasks_targets() -> None:
    assert all(e.target in {"(A)", "(B)", "(C)", "(D)"} for e in get_task("mmlu/anatomy").split("test"))
    assert all(e.target.lstrip("-").isdigit() for e in get_task("gsm8k").split("test"))
    wsc = get_task("wsc").split("train")[0]
    assert wsc.target in {"(A)", "(B)"} and "\n(A) " in wsc.input and "\n(B) " in wsc.input
    assert "Let's think step by step." in get_task("bbh/navigate").cot_prompt
    assert "canary" not in get_task("bbh/navigate").cot_prompt


def test_listing_is_lazy() -> None:
    registry._entries.cache_clear()
    _data.read_rows.cache_clear()
    _data.read_json.cache_clear()
    infos = list_tasks()
    assert len(infos) == 117
    assert _data.read_rows.cache_info().currsize == 0  # no CSV/TSV parsed to list tasks
    assert _data.read_json.cache_info().currsize == 1  # only the small membership file
