"""The written rules of the layout (README "Layout"), checked on the source: layers only import
downwards, methods import components and never each other, components import no method, no module
is longer than 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "promptflux"
METHODS = ("gflowpo", "gpo", "ppo", "sampling", "ape", "opro", "protegi", "evoprompt", "fixed")
# Each layer may import the ones after it, never one before it.
LAYERS = ("cli", "compare", "recipe", "tracking", "optimizers", "runs", "evaluation", "models")


def imports(path: Path) -> set[str]:
    """Every promptflux module `path` imports, at any depth (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("promptflux"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("promptflux"))
    return found


def part(module: str, depth: int) -> str | None:
    pieces = module.split(".")
    return pieces[depth] if len(pieces) > depth else None


def modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def layer_of(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py").removesuffix("_render")


@pytest.mark.parametrize("path", modules(SRC), ids=lambda p: str(p.relative_to(SRC)))
def test_layers_only_import_downwards(path):
    layer = layer_of(path)
    if layer not in LAYERS:
        return
    above = set(LAYERS[: LAYERS.index(layer)])
    assert not {part(m, 1) for m in imports(path)} & above


@pytest.mark.parametrize("path", modules(SRC / "optimizers"), ids=lambda p: str(p.relative_to(SRC)))
def test_methods_import_components_never_each_other(path):
    rel = path.relative_to(SRC / "optimizers")
    own = rel.parts[0].removesuffix(".py")
    used = {part(m, 2) for m in imports(path) if part(m, 1) == "optimizers"}
    if own in METHODS:
        assert not used & (set(METHODS) - {own}), f"{rel} imports another method"
    elif own != "registry":  # the registry lists the methods; nothing else of the contract knows them
        assert not used & set(METHODS), f"{rel} imports a method"


@pytest.mark.parametrize("path", modules(SRC), ids=lambda p: str(p.relative_to(SRC)))
def test_no_source_file_is_over_400_lines(path):
    assert len(path.read_text().splitlines()) <= 400
