"""ProTeGi / APO: Pryzant et al., "Automatic Prompt Optimization with 'Gradient Descent' and Beam
Search" (EMNLP 2023).

A beam search over prompts in which an optimiser LLM writes "textual gradients". One driver step:

    errors      every beam prompt is scored on its own random minibatch of train (`minibatch`); its
                wrong answers (input, the target's prediction, the reference) are what it is told about
    gradients   `num_gradients` optimiser calls per beam prompt, each shown up to `errors_per_gradient`
                of those errors and asked for one reason the prompt fails on them
    edits       `edits_per_gradient` calls per reason, each asking for the prompt rewritten to fix it
    paraphrase  `mc_paraphrases` calls per edited prompt for a same-meaning rewording (Monte-Carlo
                successors); edits and paraphrases, de-duplicated and minus the beam, are the candidates
    select      a bandit over beam + candidates on the training split, `pulls_per_step` pulls of one
                prompt x `pull_batch` examples (UCB or successive rejects, see bandits.py); the top
                `beam_size` are the next beam

The beam, ordered by the bandit's means, is what the driver validates. Every random draw is fixed by
(seed, step, ...), and optimiser requests carry ids fixed by (stage, step, slot, attempt), so a redone
step asks for and scores exactly what it did the first time, served from the run's ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from pydantic import Field, model_validator

from promptflux.errors import ConfigError
from promptflux.evaluation.evaluator import Evaluator
from promptflux.optimizers.base import pick
from promptflux.optimizers.components.bandits import Pull, Strategy, select
from promptflux.optimizers.components.induction import variation_prompt
from promptflux.optimizers.components.optimizer_llm import OptimizerLLMMethod, ProposalConfig, describe
from promptflux.optimizers.components.proposals import SLOTS, Ask, Slot, proposed, shown_answer, tally
from promptflux.optimizers.context import MethodContext
from promptflux.optimizers.presets import PresetConfig
from promptflux.runs.event_types import ProTeGiStep
from promptflux.runs.events import EventLog
from promptflux.types import Example

Error = tuple[str, str, str]
"""A wrongly answered example as the optimiser sees it: (input, the target's answer, the reference)."""


class ProTeGiConfig(ProposalConfig):
    """ProTeGi hyper-parameters; expansion and selection cost are bounded per step by the knobs below."""

    label: ClassVar[str] = "ProTeGi"

    steps: int = Field(6, ge=1, description="Beam-search steps (expand, then select), one driver step each.")
    initial_prompt: str = Field("", description="The first beam's only prompt; '' = no instruction.")
    beam_size: int = Field(4, ge=1, description="Prompts kept after each selection.")

    # ---------------------------------------------------------------- expansion
    minibatch: int = Field(
        16, ge=1, description="Training examples each beam prompt is scored on for errors."
    )
    errors_per_gradient: int = Field(
        4, ge=1, description="Wrong examples shown per gradient request (a random subset if more)."
    )
    num_gradients: int = Field(4, ge=1, description="Gradient requests (one reason each) per beam prompt.")
    edits_per_gradient: int = Field(1, ge=1, description="Edited prompts asked for per reason.")
    mc_paraphrases: int = Field(
        2, ge=0, description="Paraphrases asked for per edited prompt (Monte-Carlo successors)."
    )

    # ---------------------------------------------------------------- selection on the training split
    selection: Strategy = Field("ucb", description="ucb or successive_rejects (Audibert & Bubeck 2010).")
    pulls_per_step: int = Field(
        160, ge=1, description="Bandit pulls per step; one pull = one prompt on `pull_batch` examples."
    )
    pull_batch: int = Field(4, ge=1, description="Random training examples per pull.")
    ucb_exploration: float = Field(
        1.0, ge=0.0, description="UCB: weight c of the bonus c * sqrt(ln(pulls so far) / pulls of the arm)."
    )

    @model_validator(mode="after")
    def _slots_fit(self) -> ProTeGiConfig:
        requests = self.beam_size * self.num_gradients * self.edits_per_gradient * max(1, self.mc_paraphrases)
        if requests > SLOTS:
            raise ValueError(
                f"beam_size x num_gradients x edits_per_gradient x mc_paraphrases must be at most {SLOTS} "
                f"(requests of one kind per step), got {requests}"
            )
        return self

    @classmethod
    def quick(cls) -> ProTeGiConfig:
        """A CPU smoke run: 2 steps, a beam of 2, 2 reasons, 1 paraphrase, short replies."""
        return cls(
            steps=2,
            beam_size=2,
            minibatch=8,
            errors_per_gradient=3,
            num_gradients=2,
            mc_paraphrases=1,
            pulls_per_step=16,
            pull_batch=2,
            max_new_tokens=64,
            parse_retries=1,
        )

    @classmethod
    def presets(cls) -> dict[str, Callable[[], PresetConfig]]:
        return {"default": cls, "quick": cls.quick}


# -------------------------------------------------------------------- meta-prompts (our wording)
def failure_report(prompt: str, errors: Sequence[Error]) -> str:
    """The prompt and the examples it got wrong: what gradient and edit requests both start from."""
    cases = "\n\n".join(
        f"Example {i}\nInput: {x}\nThe model answered: {answer}\nThe correct answer: {reference}"
        for i, (x, answer, reference) in enumerate(errors, start=1)
    )
    return (
        f"A language model was given the instruction below together with each input.\n\n"
        f"Instruction:\n{describe(prompt)}\n\nIt got these examples wrong:\n\n{cases}"
    )


def gradient_prompt(prompt: str, errors: Sequence[Error]) -> str:
    """Ask for one reason the prompt leads to these mistakes: a diagnosis, not a new prompt."""
    return (
        f"{failure_report(prompt, errors)}\n\n"
        "What is wrong with the instruction? Name one problem in it, or one thing it leaves out, that "
        "explains these mistakes, in a sentence or two. Do not write a new instruction. Write only the "
        "problem, between <START> and <END>."
    )


def edit_prompt(prompt: str, errors: Sequence[Error], reason: str) -> str:
    """Ask for the prompt rewritten so that the diagnosed problem is gone."""
    return (
        f"{failure_report(prompt, errors)}\n\n"
        f"A reviewer traced the mistakes to this problem with the instruction:\n{reason}\n\n"
        "Rewrite the instruction so that it fixes this problem and the model would answer examples like "
        "these correctly, keeping what already works. Write only the new instruction, between <START> "
        "and <END>."
    )


# -------------------------------------------------------------------- the method
class ProTeGiMethod(OptimizerLLMMethod):
    """Textual gradients expand the beam, a bandit prunes it."""

    name = "protegi"
    summary = "textual gradients on errors expand a beam; a bandit prunes it (ProTeGi, Pryzant et al. 2023)"
    Config = ProTeGiConfig

    def __init__(
        self,
        config: ProTeGiConfig,
        evaluator: Evaluator,
        ask: Ask,
        *,
        train: list[Example],
        events: EventLog | None = None,
    ) -> None:
        if not train:
            raise ConfigError("ProTeGi finds errors and selects prompts on the training split: it is empty")
        super().__init__(config, evaluator, ask, events=events)
        self.train = train
        self.references = [shown_answer(evaluator.task, ex) for ex in train]
        # State (checkpointed): the beam, best first, with the bandit mean that ranked each prompt.
        self.beam: list[str] = []
        self.means: dict[str, float | None] = {}

    @classmethod
    def parts(cls, context: MethodContext, config: ProTeGiConfig) -> dict[str, Any]:
        return {**super().parts(context, config), "train": context.task.split(context.train_split)}

    def step(self, step: int) -> dict[str, Any]:
        cfg = self.config
        beam = self.beam or [cfg.initial_prompt]
        shown = self._errors(step, beam)  # gradient slot -> (beam prompt, the errors it is shown)
        reasons, edits, paraphrases = self._expand(step, shown)
        new = [p for p in proposed([*edits, *paraphrases]) if p not in beam]
        result = select(
            cfg.selection,
            [*beam, *new],  # the beam first: ties and a budget too small for every arm favour it
            budget=cfg.pulls_per_step,
            keep=cfg.beam_size,
            pull=self._pull(step),
            exploration=cfg.ucb_exploration,
        )
        self.beam = result.ranking[: cfg.beam_size]
        self.means = {p: result.arms[p].mean if result.arms[p].pulls else None for p in self.beam}
        self.emit(
            ProTeGiStep(
                step=step,
                beam=beam,
                shown=[{"slot": s, "prompt": p, "errors": errs} for s, (p, errs) in shown.items()],
                gradients=[s.record() for s in reasons],
                edits=[s.record() for s in edits],
                paraphrases=[s.record() for s in paraphrases],
                new=new,
                arms=[[p, result.arms[p].mean, result.arms[p].pulls] for p in result.ranking],
                next=self.beam,
            )
        )
        return {
            "errors_shown": sum(len(errs) for _, errs in shown.values()),
            "gradients": len(proposed(reasons)),
            "edits": len(proposed(edits)),
            "paraphrases": len(proposed(paraphrases)),
            "new_prompts": len(new),
            **tally([*reasons, *edits, *paraphrases]),
            "arms": len(result.arms),
            "pulls": result.pulls,
            "best_train": self.means[self.beam[0]],
        }

    def _expand(
        self, step: int, shown: dict[int, tuple[str, list[Error]]]
    ) -> tuple[list[Slot], list[Slot], list[Slot]]:
        """Reasons for the errors, edits per reason, paraphrases per edit: three rounds of requests.

        Slot numbers nest (edit slot = reason slot x edits_per_gradient + e, and so on), so every
        request's id says which reason and which beam prompt it descends from.
        """
        cfg = self.config
        reasons = self._ask(step, "protegi-gradient", {s: gradient_prompt(*shown[s]) for s in shown})
        edit_asks = {
            g.index * cfg.edits_per_gradient + e: edit_prompt(*shown[g.index], g.prompt)
            for g in reasons
            if g.prompt is not None
            for e in range(cfg.edits_per_gradient)
        }
        edits = self._ask(step, "protegi-edit", edit_asks)
        paraphrase_asks = {
            s.index * cfg.mc_paraphrases + m: variation_prompt(s.prompt)
            for s in edits
            if s.prompt is not None
            for m in range(cfg.mc_paraphrases)
        }
        return reasons, edits, self._ask(step, "protegi-paraphrase", paraphrase_asks)

    def _errors(self, step: int, beam: list[str]) -> dict[int, tuple[str, list[Error]]]:
        """Per gradient slot, the beam prompt it is about and the wrong answers it is shown.

        A prompt with no wrong answer on its minibatch gets no gradient requests (nothing to fix).
        """
        cfg = self.config
        shown: dict[int, tuple[str, list[Error]]] = {}
        for b, prompt in enumerate(beam):
            picked = self._sample(cfg.minibatch, "minibatch", step, b)
            (result,) = self.evaluator.evaluate([prompt], [self.train[i] for i in picked])
            wrong = [
                (self.train[i].input, prediction, self.references[i])
                for i, prediction, score in zip(picked, result.predictions, result.scores)
                if score < 1.0
            ]
            for g in range(cfg.num_gradients if wrong else 0):
                slot = b * cfg.num_gradients + g
                drawn = pick(len(wrong), cfg.errors_per_gradient, self.keyed("errors", step, slot))
                shown[slot] = (prompt, [wrong[i] for i in sorted(drawn)])
        return shown

    def _ask(self, step: int, stage: str, messages: dict[int, str]) -> list[Slot]:
        asks = [(message, slot) for slot, message in messages.items()]
        return self.propose(asks, step=step, stage=stage)

    def _pull(self, step: int) -> Pull:
        """The bandit's pulls: batch r of a step is the same random draw for every arm."""

        def pull(prompts: Sequence[str], batch: int) -> list[tuple[float, ...]]:
            examples = [self.train[i] for i in self._sample(self.config.pull_batch, "pull", step, batch)]
            return [r.scores for r in self.evaluator.evaluate(prompts, examples)]

        return pull

    def _sample(self, size: int, *key: int | str) -> list[int]:
        """Indices of `size` distinct training examples, fixed by (seed, key)."""
        return pick(len(self.train), size, self.keyed(*key))

    # ------------------------------------------------------------------ selection and checkpoints
    def candidates(self) -> list[str]:
        """The beam, best bandit mean first (none before the first step)."""
        return list(self.beam)

    def state_dict(self) -> dict[str, Any]:
        return {"beam": self.beam, "means": [self.means[p] for p in self.beam]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.beam = list(state["beam"])
        self.means = dict(zip(self.beam, state["means"]))
