"""Custom tasks: specs, splitting, and one-line errors that name the file and the row."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptflux.errors import ConfigError, DataError
from promptflux.tasks import ClassificationTask, GenerationTask, get_task
from promptflux.tasks.custom import CustomTaskSpec, build, load_spec

GOOD_CSV = "text,label\n" + "".join(f"review {i},{'pos' if i % 2 else 'neg'}\n" for i in range(20))


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def spec_file(tmp_path: Path, body: str) -> Path:
    return write(tmp_path, "spec.yaml", body)


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


CLASSIFY = "file: data.csv\nsplits: {train: 0.5, test: 0.5}\ninput_column: text\ntarget_column: label\n"
CLASSIFY += "labels: [neg, pos]\n"


def test_classification_from_csv_with_fractions(tmp_path: Path) -> None:
    write(tmp_path, "data.csv", GOOD_CSV)
    task = get_task(f"custom:{spec_file(tmp_path, CLASSIFY)}")
    assert isinstance(task, ClassificationTask)
    assert task.name == "custom:spec"
    assert len(task.split("train")) == 10 and len(task.split("test")) == 10
    assert task.labels == ("neg", "pos")
    example = task.split("train")[0]
    assert example.target == task.labels[example.label]
    assert example.id.startswith("custom:spec/data.csv/")


def test_seed_controls_the_shuffle(tmp_path: Path) -> None:
    write(tmp_path, "data.csv", GOOD_CSV)
    path = spec_file(tmp_path, CLASSIFY)
    ids = lambda seed: [e.id for e in get_task(f"custom:{path}", seed=seed).split("train")]  # noqa: E731
    assert ids(1) == ids(1)
    assert ids(1) != ids(2)


def test_generation_from_jsonl_files_with_label_lists(tmp_path: Path) -> None:
    write(tmp_path, "train.jsonl", '{"q": "2+2", "a": "4"}\n\n{"q": "3+3", "a": ["6", "six"]}\n')
    write(tmp_path, "test.jsonl", '{"q": "1+1", "a": 2}\n')
    path = spec_file(
        tmp_path,
        "name: adder\nfiles: {train: train.jsonl, test: test.jsonl}\ninput_column: q\ntarget_column: a\n"
        "metric: exact_match\ntemplate: 'Q: {input} {prompt} A:'\nchat: true\n",
    )
    task = get_task(f"custom:{path}")
    assert isinstance(task, GenerationTask)
    assert task.name == "custom:adder"
    assert [e.id for e in task.split("train")] == ["custom:adder/train.jsonl/1", "custom:adder/train.jsonl/3"]
    assert task.split("train")[1].accepted == ("6", "six")
    assert task.split("test")[0].target == "2"
    request = task.request("Add.", task.split("test")[0])
    assert request.prompt == "Q: 1+1 Add. A:" and request.chat


def test_label_mapping_and_tsv_counts(tmp_path: Path) -> None:
    write(tmp_path, "data.tsv", "sentence\tlabel\n" + "".join(f"s{i}\t{i % 2}\n" for i in range(10)))
    spec = CustomTaskSpec(
        file="data.tsv",
        splits={"train": 4, "dev": 4},
        input_column="sentence",
        target_column="label",
        labels={"0": "negative", "1": "positive"},
    )
    task = build(spec, tmp_path, name="m")
    assert task.labels == ("negative", "positive")
    assert {len(task.split("train")), len(task.split("dev"))} == {4}
    assert all(e.target == ("negative", "positive")[e.label] for e in task.split("train"))


def test_missing_file(tmp_path: Path) -> None:
    path = spec_file(tmp_path, CLASSIFY.replace("data.csv", "nope.csv"))
    with pytest.raises(DataError) as err:
        get_task(f"custom:{path}")
    assert "nope.csv" in one_line(err) and "not found" in str(err.value)


def test_missing_spec(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.yaml: task spec not found"):
        get_task(f"custom:{tmp_path / 'absent.yaml'}")


def test_missing_column(tmp_path: Path) -> None:
    write(tmp_path, "data.csv", GOOD_CSV.replace("text,label", "sentence,label"))
    with pytest.raises(DataError) as err:
        get_task(f"custom:{spec_file(tmp_path, CLASSIFY)}")
    message = one_line(err)
    assert "data.csv, row 1" in message and "'text'" in message and "sentence, label" in message


def test_unknown_label_names_row(tmp_path: Path) -> None:
    write(tmp_path, "data.csv", "text,label\ngood,pos\nfine,neutral\n")
    with pytest.raises(DataError) as err:
        get_task(f"custom:{spec_file(tmp_path, CLASSIFY)}")
    message = one_line(err)
    assert "data.csv, row 3" in message and "'neutral'" in message and "neg, pos" in message


def test_empty_split(tmp_path: Path) -> None:
    write(tmp_path, "data.csv", "text,label\na,pos\nb,neg\nc,pos\n")
    path = spec_file(tmp_path, CLASSIFY.replace("{train: 0.5, test: 0.5}", "{train: 0.5, test: 0.1}"))
    with pytest.raises(DataError) as err:
        get_task(f"custom:{path}")
    assert "data.csv" in one_line(err) and "split 'test' is empty" in str(err.value)


def test_empty_split_file(tmp_path: Path) -> None:
    write(tmp_path, "train.csv", GOOD_CSV)
    write(tmp_path, "dev.csv", "text,label\n")
    spec = CustomTaskSpec(
        files={"train": "train.csv", "dev": "dev.csv"},
        input_column="text",
        target_column="label",
        labels=["neg", "pos"],
    )
    with pytest.raises(DataError, match=r"dev\.csv: split 'dev' is empty"):
        build(spec, tmp_path, name="x")


def test_too_many_rows_requested(tmp_path: Path) -> None:
    write(tmp_path, "data.csv", GOOD_CSV)
    path = spec_file(tmp_path, CLASSIFY.replace("{train: 0.5, test: 0.5}", "{train: 15, test: 15}"))
    with pytest.raises(DataError, match=r"data\.csv: splits ask for 30 rows but the file has 20"):
        get_task(f"custom:{path}")


def test_bad_encoding_names_row(tmp_path: Path) -> None:
    write(tmp_path, "data.csv", "text,label\ngood,pos\ncaf\xe9 au lait,neg\n".encode("latin-1"))
    with pytest.raises(DataError) as err:
        get_task(f"custom:{spec_file(tmp_path, CLASSIFY)}")
    message = one_line(err)
    assert "data.csv, row 3" in message and "not UTF-8" in message


def test_malformed_json_line(tmp_path: Path) -> None:
    write(tmp_path, "data.jsonl", '{"input": "a", "target": "b"}\n{"input": "c", "target": }\n')
    spec = CustomTaskSpec(files={"train": "data.jsonl"}, metric="exact_match")
    with pytest.raises(DataError) as err:
        build(spec, tmp_path, name="x")
    message = one_line(err)
    assert "data.jsonl, row 2" in message and "malformed JSON" in message


def test_json_line_missing_field_and_non_object(tmp_path: Path) -> None:
    write(tmp_path, "a.jsonl", '{"input": "a", "answer": "b"}\n')
    write(tmp_path, "b.jsonl", '{"input": "a", "target": "b"}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"a\.jsonl, row 1: no field 'target'"):
        build(CustomTaskSpec(files={"train": "a.jsonl"}, metric="f1"), tmp_path, name="x")
    with pytest.raises(DataError, match=r"b\.jsonl, row 2: expected a JSON object"):
        build(CustomTaskSpec(files={"train": "b.jsonl"}, metric="f1"), tmp_path, name="x")


def test_empty_input_names_row(tmp_path: Path) -> None:
    write(tmp_path, "data.csv", "text,label\ngood,pos\n  ,neg\n")
    with pytest.raises(DataError) as err:
        get_task(f"custom:{spec_file(tmp_path, CLASSIFY)}")
    message = one_line(err)
    assert "data.csv, row 3" in message and "empty input" in message


def test_short_row_names_row(tmp_path: Path) -> None:
    write(tmp_path, "data.csv", "text,label\ngood,pos\nlonely\n")
    with pytest.raises(DataError, match=r"data\.csv, row 3: 1 fields, expected 2"):
        get_task(f"custom:{spec_file(tmp_path, CLASSIFY)}")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (CLASSIFY + "colour: blue\n", "colour: unknown key"),
        (CLASSIFY + "metric: f1\n", "exactly one of 'labels'"),
        (CLASSIFY.replace("labels: [neg, pos]\n", "metric: bleu\n"), "unknown metric 'bleu'"),
        (CLASSIFY.replace("splits: {train: 0.5, test: 0.5}\n", ""), "'file' needs 'splits'"),
        (CLASSIFY.replace("0.5, test: 0.5", "0.5, test: 3"), "all counts or all fractions"),
        ("- just\n- a list\n", "expected a mapping"),
        ("file: [unclosed\n", "not a valid UTF-8 YAML file at line"),
    ],
)
def test_spec_errors_are_one_line_config_errors(tmp_path: Path, body: str, message: str) -> None:
    path = spec_file(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_spec(path)
    text = one_line(err)
    assert str(path) in text and message in text


def test_unsupported_extension(tmp_path: Path) -> None:
    write(tmp_path, "data.xlsx", "whatever")
    spec = CustomTaskSpec(files={"train": "data.xlsx"}, metric="f1")
    with pytest.raises(ConfigError, match=r"data\.xlsx: unsupported file type '\.xlsx'"):
        build(spec, tmp_path, name="x")


def test_custom_rejects_unknown_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no option 'labels'"):
        get_task(f"custom:{tmp_path / 'spec.yaml'}", labels=["a", "b"])
