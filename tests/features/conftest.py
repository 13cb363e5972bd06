"""Fixtures of the issue-15 feature tests (export, early stopping, cost projection): the fault suite's
quick OPRO run (tiny random target, scripted tagging optimiser) and its in-process CLI."""

from tests.faults.conftest import cli, tagging, task  # noqa: F401 - fixtures shared with tests/faults
