"""Dynamic Memory Update (DMU): the memories the meta-prompt's reference instructions come from.

Once DMU is active, every micro-batch's meta-prompt lists a few earlier prompts as references:
`from_queue` from the priority queue Q (the best prompts by training accuracy: exploitation) and
`from_diverse` from the diverse pool (breadth, so the prompt-LM does not only copy the leader).
Each micro-batch then pushes its most accurate prompt into Q. The update needs no gradient: it is the
M-step of the paper's EM view, changing the meta-prompt M the E-step (GFlowNet) conditions on.

Diverse pool refresh rules:
- "frozen": a copy of the replay buffer taken once, at the first update after warm-up (reference code);
- "live":   rebuilt from the current buffer every `refresh_every` steps (the paper's description).

Diversity criterion. By default the pool is the whole buffer snapshot and references are drawn from it
uniformly without replacement: the buffer is already filtered by reward, uniform draws follow its
distribution (which is what the GFlowNet is trained to match) and never favour odd outliers. When a
pool `size` is set, "maxmin_jaccard" instead picks the subset greedily by max-min word-Jaccard distance,
starting from the best entry: useful once the buffer fills with near-paraphrases of one prompt, at the
price of favouring unusual (often worse) prompts. The Q pick is excluded from the diverse draw, so one
list never shows the same prompt twice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from promptflux.optimizers.gflowpo.config import DiverseRefresh, DiverseSelection, GFlowPOConfig
from promptflux.optimizers.gflowpo.replay import ReplayBuffer


@dataclass(frozen=True)
class QueueItem:
    text: str
    accuracy: float
    step: int
    seq: int  # push order, the last tie-breaker


class PriorityQueue:
    """The top-`capacity` prompts by training accuracy, unique by text.

    Ranked by accuracy, then shorter text (characters: model-independent, and a shorter prompt with the
    same accuracy is the cheaper and usually the more general one), then earlier push.
    """

    def __init__(self, capacity: int = 5) -> None:
        if capacity < 1:
            raise ValueError(f"queue capacity must be positive, got {capacity}")
        self.capacity = capacity
        self._items: list[QueueItem] = []
        self._next_seq = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def items(self) -> list[QueueItem]:
        """Best first."""
        return list(self._items)

    @property
    def texts(self) -> list[str]:
        return [item.text for item in self._items]

    def push(self, text: str, accuracy: float, step: int) -> bool:
        """Offer a prompt; returns whether it is in the queue afterwards. Known texts are ignored."""
        text = text.strip()
        if not text or any(item.text == text for item in self._items):
            return False
        if not 0.0 <= accuracy <= 1.0:
            raise ValueError(f"accuracy must be in [0, 1], got {accuracy} for {text!r}")
        item = QueueItem(text, float(accuracy), step, self._next_seq)
        self._next_seq += 1
        self._items.append(item)
        self._items.sort(key=lambda it: (-it.accuracy, len(it.text), it.seq))
        del self._items[self.capacity :]
        return item in self._items

    def sample(self, n: int, rng: np.random.Generator) -> list[str]:
        """min(n, len) distinct texts, uniformly."""
        n = min(n, len(self._items))
        if n <= 0:
            return []
        return [self._items[i].text for i in rng.choice(len(self._items), size=n, replace=False)]

    def state_dict(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "next_seq": self._next_seq,
            "items": [asdict(item) for item in self._items],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PriorityQueue:
        queue = cls(int(state["capacity"]))
        queue._items = [QueueItem(**item) for item in state["items"]]
        queue._next_seq = int(state["next_seq"])
        return queue


class DiversePool:
    """Prompts the meta-prompt's "diverse" references are drawn from (see the module docstring)."""

    def __init__(
        self,
        refresh: DiverseRefresh = "live",
        refresh_every: int = 10,
        size: int | None = None,
        selection: DiverseSelection = "uniform",
    ) -> None:
        if refresh not in ("live", "frozen"):
            raise ValueError(f"refresh must be 'live' or 'frozen', got {refresh!r}")
        if selection not in ("uniform", "maxmin_jaccard"):
            raise ValueError(f"selection must be 'uniform' or 'maxmin_jaccard', got {selection!r}")
        if refresh_every < 1 or (size is not None and size < 1):
            raise ValueError(f"refresh_every and size must be positive, got {refresh_every}, {size}")
        self.refresh = refresh
        self.refresh_every = refresh_every
        self.size = size
        self.selection = selection
        self._texts: tuple[str, ...] = ()
        self.last_refresh: int | None = None

    @classmethod
    def from_config(cls, config: GFlowPOConfig) -> DiversePool:
        return cls(
            config.dmu_diverse_refresh,
            config.dmu_refresh_every,
            config.dmu_diverse_pool_size,
            config.dmu_diverse_selection,
        )

    @property
    def texts(self) -> tuple[str, ...]:
        return self._texts

    def __len__(self) -> int:
        return len(self._texts)

    def update(self, step: int, buffer: ReplayBuffer, rng: np.random.Generator) -> bool:
        """Call once per training step; rebuilds the pool when its rule says so. Returns whether it did.

        frozen: the first call that finds a non-empty buffer takes the snapshot, later calls do nothing.
        live:   rebuilds on the first call and whenever `refresh_every` steps have passed since the last.
        """
        if not len(buffer):
            return False
        if self.last_refresh is not None and (
            self.refresh == "frozen" or step - self.last_refresh < self.refresh_every
        ):
            return False
        self._texts = self._select(buffer, rng)
        self.last_refresh = step
        return True

    def _select(self, buffer: ReplayBuffer, rng: np.random.Generator) -> tuple[str, ...]:
        texts = [entry.text for entry in buffer]
        if self.size is None or self.size >= len(texts):
            return tuple(texts)
        if self.selection == "uniform":
            return tuple(texts[i] for i in sorted(rng.choice(len(texts), size=self.size, replace=False)))
        return tuple(maxmin_jaccard([entry.text for entry in buffer.best()], self.size))

    def sample(self, n: int, rng: np.random.Generator, exclude: Sequence[str] = ()) -> list[str]:
        """min(n, available) distinct texts uniformly, skipping `exclude` (e.g. this list's Q pick)."""
        skip = set(exclude)
        candidates = [t for t in self._texts if t not in skip]
        n = min(n, len(candidates))
        if n <= 0:
            return []
        return [candidates[i] for i in rng.choice(len(candidates), size=n, replace=False)]

    def state_dict(self) -> dict[str, Any]:
        return {
            "refresh": self.refresh,
            "refresh_every": self.refresh_every,
            "size": self.size,
            "selection": self.selection,
            "texts": list(self._texts),
            "last_refresh": self.last_refresh,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DiversePool:
        pool = cls(state["refresh"], int(state["refresh_every"]), state["size"], state["selection"])
        pool._texts = tuple(state["texts"])
        pool.last_refresh = state["last_refresh"]
        return pool


def draw_references(
    queue: PriorityQueue,
    pool: DiversePool,
    n_queue: int,
    n_diverse: int,
    rng: np.random.Generator,
) -> list[str]:
    """One micro-batch's reference instructions: Q picks first, then diverse picks not already shown.

    Unshuffled; the meta-prompt builder shuffles the list it displays.
    """
    from_queue = queue.sample(n_queue, rng)
    return from_queue + pool.sample(n_diverse, rng, exclude=from_queue)


_WORD = re.compile(r"\w+")


def word_set(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def jaccard_distance(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return 1.0 - len(a & b) / union if union else 0.0


def maxmin_jaccard(texts_best_first: Sequence[str], k: int) -> list[str]:
    """Greedy farthest-point subset: start at the best text, then repeatedly add the text whose nearest
    chosen text is farthest away (earlier = better text wins ties). O(k * N) distance evaluations.
    """
    if k <= 0 or not texts_best_first:
        return []
    words = [word_set(t) for t in texts_best_first]
    chosen, taken = [0], {0}
    nearest = [jaccard_distance(words[0], w) for w in words]
    while len(chosen) < min(k, len(words)):
        best = max((i for i in range(len(words)) if i not in taken), key=lambda i: (nearest[i], -i))
        chosen.append(best)
        taken.add(best)
        nearest = [min(d, jaccard_distance(words[best], w)) for d, w in zip(nearest, words)]
    return [texts_best_first[i] for i in chosen]
