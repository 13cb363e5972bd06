"""One model served by two engines: generation where it is fast, log-probs where they are exact.

For an embedded GGUF model the fastest generator on a CPU is llama.cpp on the quantised file, while
log-probs, LoRA training and exact scoring need transformers on the dequantised weights. `RoutedLM`
sends each request kind to its engine and loads each engine on first use, so a model that only
generates (an optimiser LLM) never loads the fp32 copy. The fingerprint names both engines, so the
output cache never mixes answers of different engines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from promptflux.models.base import LanguageModel
from promptflux.types import Generation, GenRequest, ScoreRequest, ScoreResult


class RoutedLM(LanguageModel):
    """Generation on `generator()`, scoring on `scorer()`; each factory runs once, when first needed.

    `generator_label` / `scorer_label` describe the engines without loading them (they go into the
    fingerprint). When the scorer is a transformers model that a method adapted with LoRA, scoring
    runs with the adapter off: this view of the model is always its frozen base.
    """

    def __init__(
        self,
        name: str,
        generator: Callable[[], LanguageModel],
        scorer: Callable[[], LanguageModel],
        generator_label: str,
        scorer_label: str,
    ) -> None:
        super().__init__()
        self.name = name
        self._factories = {"generate": generator, "score": scorer}
        self._engines: dict[str, LanguageModel] = {}
        self._labels = (generator_label, scorer_label)

    def engine(self, kind: str) -> LanguageModel:
        if kind not in self._engines:
            self._engines[kind] = self._factories[kind]()
        return self._engines[kind]

    def fingerprint(self) -> str:
        return f"{self.name}|generate:{self._labels[0]}|score:{self._labels[1]}"

    def _generate(self, requests: Sequence[GenRequest]) -> list[Generation]:
        return self.engine("generate")._generate(requests)

    def _score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        scorer = self.engine("score")
        disabled = getattr(scorer, "adapter_disabled", None)
        if disabled is None:
            return scorer._score(requests)
        with disabled():
            return scorer._score(requests)

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()
