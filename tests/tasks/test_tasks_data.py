"""Packaged data: attribution files are present and run-time code never reads outside the package."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import promptflux.tasks

DATA = files("promptflux.tasks").joinpath("data")
RUNTIME_MODULES = [
    p for p in Path(promptflux.tasks.__file__).parent.glob("*.py") if p.name != "build_gpo_membership.py"
]


def test_sources_and_licences_ship_with_the_data() -> None:
    sources = DATA.joinpath("SOURCES.md").read_text(encoding="utf-8")
    for needle in ("RLPrompt", "Apache", "BIG-Bench Hard", "MMLU", "GSM8K", "CC BY 4.0", "gpo_membership"):
        assert needle in sources
    licences = {p.name for p in DATA.joinpath("licenses").iterdir()}
    assert {"Apache-2.0.txt", "MIT-rlprompt.txt", "MIT-bbh.txt", "MIT-mmlu.txt", "MIT-gsm8k.txt"} <= licences


def test_no_gpo_split_files_or_webnlg_are_shipped() -> None:
    shipped = [p.relative_to(Path(str(DATA))) for p in Path(str(DATA)).rglob("*") if p.is_file()]
    assert not [p for p in shipped if "gpo" in p.parts[0].lower() and p.name != "gpo_membership.json"]
    assert not [p for p in shipped if "webnlg" in str(p).lower()]


def test_runtime_code_never_reads_shared_data() -> None:
    for module in RUNTIME_MODULES:
        text = module.read_text(encoding="utf-8")
        assert "/work/shared" not in text and "../shared" not in text, module.name
