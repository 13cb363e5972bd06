"""Checkpoints that hold only data: structure as JSON, tensors as safetensors; nothing is unpickled.

A run folder may come from someone else, and resuming it must not run code planted in it, so the
checkpoint format has no way to name a class or a function:

    checkpoint/state.json           {"format": 1, "state": <the state tree>}
    checkpoint/tensors.safetensors  the tensors the tree refers to by name

The state tree is JSON, with three tagged objects for what JSON cannot say directly (they round-trip
exactly, which torch's optimiser and scheduler states need):

    {"$tensor": "t3"}           a tensor stored in tensors.safetensors under that name
    {"$tuple": [...]}           a tuple
    {"$items": [[k, v], ...]}   a dict whose keys are not all strings (e.g. an optimiser's param ids),
                                or that has a key starting with "$"

Anything that is not such data (a file that does not parse, a dangling tensor name, an old pickle
checkpoint) is refused with a one-line ConfigError.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from promptflux.errors import ConfigError

FORMAT = 1
STATE = "state.json"
TENSORS = "tensors.safetensors"
LEGACY = "state.pt"  # promptflux <= 0.2 pickled its checkpoints: refused, never loaded


def save(state: dict[str, Any], folder: Path) -> None:
    """Write `state` into `folder` (which must exist); a value that is not plain data is a TypeError."""
    tensors: dict[str, torch.Tensor] = {}
    tree = _encode(state, tensors, "state")
    # clone(): safetensors refuses tensors that share storage, and views of a bigger buffer.
    save_file({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, folder / TENSORS)
    (folder / STATE).write_text(json.dumps({"format": FORMAT, "state": tree}), encoding="utf-8")


def load(folder: Path) -> dict[str, Any]:
    """The state saved in `folder`, on the CPU; a checkpoint that is not such data is a ConfigError."""
    if not (folder / STATE).exists():
        if (folder / LEGACY).exists():
            raise ConfigError(
                f"{folder / LEGACY} is a pickle checkpoint from an older promptflux: it is not loaded, "
                f"since unpickling a file can run code planted in it; start a new run folder"
            )
        raise ConfigError(
            f"{folder} holds no {STATE}; move the folder aside to replay the run from its ledger"
        )
    try:
        doc = json.loads((folder / STATE).read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("state"), dict):
            raise ValueError(f"not a format-{FORMAT} promptflux checkpoint")
        tensors = load_file(folder / TENSORS) if (folder / TENSORS).exists() else {}
        return _decode(doc["state"], tensors)
    except (OSError, ValueError, KeyError, TypeError, SafetensorError, RecursionError) as e:
        reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise ConfigError(
            f"{folder} is not a readable checkpoint ({reason}); move it aside to replay the run "
            f"from its ledger (no call is paid twice)"
        ) from None


def _encode(value: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    if isinstance(value, np.generic):  # numpy scalars (np.float64 is also a float) as plain numbers
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = value
        return {"$tensor": name}
    if isinstance(value, list):
        return [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, dict):
        plain = all(isinstance(k, str) and not k.startswith("$") for k in value)
        if plain:
            return {k: _encode(v, tensors, f"{where}.{k}") for k, v in value.items()}
        return {
            "$items": [
                [_encode(k, tensors, f"{where} key"), _encode(v, tensors, f"{where}[{k!r}]")]
                for k, v in value.items()
            ]
        }
    raise TypeError(f"checkpoint value {where} is a {type(value).__name__}, not plain data or a tensor")


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "$tensor":
            if inner not in tensors:
                raise KeyError(f"tensor {inner!r} is missing from {TENSORS}")
            return tensors[inner]
        if tag == "$tuple":
            return tuple(_decode(v, tensors) for v in inner)
        if tag == "$items":
            return {_hashable(_decode(k, tensors)): _decode(v, tensors) for k, v in inner}
    if any(k.startswith("$") for k in value):
        raise ValueError(f"unknown tag in {sorted(value)[:3]}")
    return {k: _decode(v, tensors) for k, v in value.items()}


def _hashable(key: Any) -> Any:
    if isinstance(key, (dict, list, torch.Tensor)):
        raise TypeError(f"a {type(key).__name__} cannot be a dict key")
    return key
