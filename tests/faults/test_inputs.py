"""Findings 6 and 8: bad files and silent surprises. Each is one line that says what to fix, and a
foreign file is never written."""

from __future__ import annotations

import sqlite3

import pytest
import yaml

from promptflux.errors import ConfigError, DataError, StorageError
from promptflux.evaluation import OutputCache
from promptflux.tasks import get_task
from promptflux.types import ScoreResult
from tests.faults.conftest import digest, one_line, quick_run, run_files


@pytest.fixture()
def interrupted(tmp_path, task, tagging):
    folder = tmp_path / "run"
    assert quick_run(folder, task, stop_after=1) is None
    return folder


def resume(cli, folder, *flags):
    return cli("optimize", "--resume", folder, "--cache", folder.parent / "cli-cache.sqlite", *flags)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("task: [unclosed\n", "is not readable YAML"),
        ("- just\n- a list\n", "does not hold a run config"),
        ("task: sst2\nbogus_key: 1\n", "bogus_key"),
    ],
)
def test_a_corrupt_config_on_resume_is_one_line(interrupted, cli, text, message):
    (interrupted / "config.yaml").write_text(text)
    before = digest(*run_files(interrupted))
    code, err = resume(cli, interrupted)
    assert code == 2 and message in one_line(err)
    assert digest(*run_files(interrupted)) == before


def test_a_folder_given_as_config_is_one_line(tmp_path, cli):
    code, err = cli("optimize", "--config", tmp_path, "--cache", tmp_path / "c.sqlite")
    assert code == 2 and "is a folder; --config takes a YAML file" in one_line(err)


def test_a_file_given_as_run_dir_is_one_line(tmp_path, cli):
    file = tmp_path / "not-a-folder"
    file.write_text("x")
    args = (
        "--method",
        "fixed",
        "--task",
        "sst2",
        "--target",
        "tiny-random",
        "--cache",
        tmp_path / "c.sqlite",
    )
    code, err = cli("optimize", *args, "--run-dir", file)
    assert code == 2 and "is a file, not a folder" in one_line(err)
    assert file.read_text() == "x"


def test_a_file_given_as_resume_is_one_line(tmp_path, cli):
    file = tmp_path / "not-a-folder"
    file.write_text("x")
    code, err = cli("optimize", "--resume", file, "--cache", tmp_path / "c.sqlite")
    assert code == 2 and "is not a run folder" in one_line(err)


def test_another_applications_database_is_refused_and_left_untouched(tmp_path, cli):
    foreign = tmp_path / "app.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE outputs (id INTEGER PRIMARY KEY, blob TEXT)")  # same name, not ours
        db.execute("CREATE TABLE users (name TEXT)")
    db.close()
    before = digest(foreign)
    code, err = cli("eval", "--task", "sst2", "--model", "tiny-random", "--limit", "2", "--cache", foreign)
    assert code == 2 and "another application's SQLite database" in one_line(err)
    assert digest(foreign) == before
    assert not (tmp_path / "app.db-wal").exists()


def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path):
    notes = tmp_path / "notes.sqlite"
    notes.write_text("my notes\n" * 200)
    with pytest.raises(ConfigError, match="not a usable promptflux cache"):
        OutputCache(notes)
    assert notes.read_text() == "my notes\n" * 200


def test_a_read_only_cache_says_so_and_never_advises_deleting_it(tmp_path):
    path = tmp_path / "c.sqlite"
    OutputCache(path).close()
    cache = OutputCache(path)
    cache._db.execute("PRAGMA query_only = ON")  # SQLite refuses writes as for a read-only file
    with pytest.raises(StorageError, match="cannot be written") as err:
        cache.put_many({"k": ScoreResult((-1.0,), 1)})
    assert "delete" not in str(err.value)


def test_duplicate_csv_headers_are_refused(tmp_path):
    (tmp_path / "d.csv").write_text("text,label,text\na,positive,b\nc,negative,d\n")
    (tmp_path / "d.yaml").write_text(
        "file: d.csv\nsplits: {train: 1, test: 1}\ninput_column: text\ntarget_column: label\n"
        "labels: [negative, positive]\n"
    )
    with pytest.raises(DataError, match="column 'text' appears more than once"):
        get_task(f"custom:{tmp_path / 'd.yaml'}")


def test_resume_refuses_flags_that_would_change_the_run(interrupted, cli):
    before = digest(*run_files(interrupted))
    code, err = resume(cli, interrupted, "--task", "sst2", "--target", "smollm2")
    line = one_line(err)
    assert code == 2 and "--task, --target cannot change it" in line
    assert digest(*run_files(interrupted)) == before


def test_resume_cannot_put_a_limit_on_an_unlimited_run(interrupted):
    with pytest.raises(ConfigError, match="now unlimited"):
        quick_run(interrupted, resume=True, changes={"max_target_calls": 10_000})


def test_resume_raises_a_budget_explicitly_says_so_and_refuses_to_lower_it(tmp_path, task, tagging, caplog):
    folder = tmp_path / "limited"
    assert quick_run(folder, task, stop_after=0, max_target_calls=500) is None
    with pytest.raises(ConfigError, match="can raise --max-calls \\(now 500\\), not lower it"):
        quick_run(folder, resume=True, changes={"max_target_calls": 100})
    quick_run(folder, resume=True, changes={"max_target_calls": 900})
    assert "--max-calls 500 -> 900" in caplog.text
    assert yaml.safe_load((folder / "config.yaml").read_text())["max_target_calls"] == 900


def test_a_budget_raised_on_the_command_line_is_shown_and_saved(tmp_path, task, tagging, cli):
    folder = tmp_path / "limited"
    assert quick_run(folder, task, stop_after=0, max_target_calls=500) is None
    code, err = resume(cli, folder, "--max-calls", "900")
    assert code == 0, err
    assert "warning: resuming" in err and "--max-calls 500 -> 900" in err
    assert yaml.safe_load((folder / "config.yaml").read_text())["max_target_calls"] == 900
    assert (folder / "result.json").exists()


@pytest.mark.parametrize("name", ["events.jsonl", "ledger.sqlite", "config.yaml"])
def test_a_symbolic_link_in_a_run_folder_is_refused_and_its_target_untouched(interrupted, tmp_path, name):
    victim = tmp_path / "victim.txt"
    victim.write_text("someone else's file\n")
    (interrupted / name).rename(tmp_path / f"moved-{name}")
    (interrupted / name).symlink_to(victim)
    with pytest.raises(ConfigError, match=f"{name} is a symbolic link"):
        quick_run(interrupted, resume=True)
    assert victim.read_text() == "someone else's file\n"
