"""APE: Zhou et al., "Large Language Models Are Human-Level Prompt Engineers" (ICLR 2023).

Instruction induction, then selection on the training split:

    propose   `num_candidates` optimiser calls, each shown `demos` input -> output pairs (a fresh random
              subset of the training split per call) and asked which instruction produced them.
    rank      successive halving: score every prompt on a small random subset of train, keep the top
              half, double the subset, ... until a round has used all of train or only `keep` remain.
              Or UCB: `ucb_pulls` pulls, each one batch of `ucb_batch` random training examples for the
              arm with the highest upper confidence bound.
    resample  optional rounds (`resample_rounds`): ask for variations, same meaning, of the top `keep`
              prompts; rank them together with those prompts, as above.

Driver steps, so checkpoints fall between phases: step 0 proposes; each halving round (or each of the
`ucb_steps` slices of the pulls) is one step; each resample round is one propose step plus its ranking
steps. The halving subsets are prefixes of one seeded shuffle of train, so a prompt that survives a round
is only scored on the examples it has not seen: the rest come back from the run's ledger, free. The top
`keep` of the latest ranking are the candidates the driver validates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from promptflux.errors import ConfigError
from promptflux.evaluation.evaluator import Evaluator
from promptflux.optimizers.components.bandits import Arm, by_mean, upper_bound_choice
from promptflux.optimizers.components.induction import draw_demos, induction_prompt, variation_prompt
from promptflux.optimizers.components.optimizer_llm import OptimizerLLMMethod, ProposalConfig, demonstrations
from promptflux.optimizers.components.proposals import Ask, proposed, tally
from promptflux.optimizers.components.racing import RacingFields
from promptflux.optimizers.context import MethodContext
from promptflux.optimizers.presets import PresetConfig
from promptflux.runs.event_types import APEPropose, APERank
from promptflux.runs.events import EventLog
from promptflux.types import Example

Ranking = Literal["halving", "ucb"]


class APEConfig(ProposalConfig, RacingFields):
    """APE hyper-parameters; at the defaults halving and UCB spend the same target calls on 48 examples."""

    label: ClassVar[str] = "APE"

    # ---------------------------------------------------------------- proposals
    num_candidates: int = Field(
        32, ge=1, le=1000, description="Proposals per round, one optimiser call each."
    )
    demos: int = Field(
        5, ge=1, description="Input -> output demonstrations per proposal, redrawn from train per call."
    )
    max_new_tokens: int = Field(128, ge=1, description="Longest optimiser reply, in tokens.")

    # ---------------------------------------------------------------- ranking on the training split
    ranking: Ranking = Field("halving", description="halving (successive halving) or ucb (a bandit).")
    keep: int = Field(
        4, ge=1, description="Halving stops when this many remain; the top `keep` are offered to validation."
    )
    first_subset: int = Field(
        4, ge=1, description="Halving: training examples per prompt in the first round, doubled each round."
    )
    ucb_pulls: int = Field(64, ge=1, description="UCB: pulls per ranking (one pull = one prompt x a batch).")
    ucb_batch: int = Field(4, ge=1, description="UCB: random training examples per pull.")
    ucb_exploration: float = Field(
        1.0, ge=0.0, description="UCB: weight c of the bonus c * sqrt(ln(pulls so far) / pulls of the arm)."
    )
    ucb_steps: int = Field(4, ge=1, description="UCB: driver steps the pulls of one ranking are spread over.")

    # ---------------------------------------------------------------- iterative resampling
    resample_rounds: int = Field(
        0, ge=0, description="Rounds of variations of the top `keep` prompts, each ranked like the first."
    )
    seed: int = Field(
        0, ge=0, description="Seeds the demonstration draws, the subset shuffle and UCB batches."
    )

    @model_validator(mode="after")
    def _consistent(self) -> APEConfig:
        if self.ranking == "ucb" and self.ucb_steps > self.ucb_pulls:
            raise ValueError(f"ucb_steps ({self.ucb_steps}) must not exceed ucb_pulls ({self.ucb_pulls})")
        if self.ranking == "ucb" and self.racing:
            raise ValueError(
                "racing races the halving rounds; UCB already allocates pulls (use ranking=halving)"
            )
        return self

    @classmethod
    def quick(cls) -> APEConfig:
        """A CPU smoke run: 8 proposals, short replies, 2 kept; the phases are the default's."""
        return cls(
            num_candidates=8,
            demos=3,
            max_new_tokens=48,
            parse_retries=1,
            keep=2,
            first_subset=2,
            ucb_pulls=8,
            ucb_batch=2,
            ucb_steps=2,
        )

    @classmethod
    def presets(cls) -> dict[str, Callable[[], PresetConfig]]:
        return {"default": cls, "quick": cls.quick}


# -------------------------------------------------------------------- schedules
@dataclass(frozen=True)
class HalvingRound:
    prompts: int  # at most this many are scored in the round (the best of the previous round)
    examples: int  # on this prefix of the shuffled training split


def halving_plan(pool: int, keep: int, first: int, n_train: int) -> list[HalvingRound]:
    """The rounds for a pool of `pool` prompts: halve the prompts, double the examples, until all of
    train was used or at most `keep` would remain."""
    rounds = [HalvingRound(pool, min(first, n_train))]
    while True:
        last = rounds[-1]
        survivors = max(keep, math.ceil(last.prompts / 2))
        if last.examples >= n_train or survivors <= keep:
            return rounds
        rounds.append(HalvingRound(survivors, min(2 * last.examples, n_train)))


@dataclass(frozen=True)
class Phase:
    kind: Literal["propose", "rank"]
    round: int  # 0: induction; 1..resample_rounds: variations
    index: int = 0  # the halving round, or the slice of UCB pulls


def ucb_slice(pulls: int, steps: int, index: int) -> int:
    """Pulls done in slice `index` of `steps`: as even as possible, summing to `pulls`."""
    return pulls * (index + 1) // steps - pulls * index // steps


# -------------------------------------------------------------------- the method
class APEMethod(OptimizerLLMMethod):
    """Induce instructions, rank them on train, optionally resample the best."""

    name = "ape"
    summary = "instructions induced from demonstrations, ranked by halving or UCB (Zhou et al. 2023)"
    Config = APEConfig
    state = ("seen", "pool", "ranking", "scores")

    def __init__(
        self,
        config: APEConfig,
        evaluator: Evaluator,
        ask: Ask,
        *,
        train: list[Example],
        demos: list[tuple[str, str]],
        events: EventLog | None = None,
    ) -> None:
        if not train:
            raise ConfigError("APE ranks prompts on the training split, which is empty")
        super().__init__(config, evaluator, ask, events=events)
        self.train = train
        self.demos = demos
        self.order = [int(i) for i in self.keyed("order").permutation(len(train))]
        rounds = range(config.resample_rounds + 1)
        self.plans = [self._halving_plan(r) for r in rounds]  # unused under UCB
        self.phases = [
            phase
            for r in rounds
            for phase in [Phase("propose", r), *(Phase("rank", r, i) for i in range(self._rank_steps(r)))]
        ]
        # State (checkpointed): every prompt proposed, the pool being ranked, the latest ranking.
        self.seen: list[str] = []
        self.pool: list[str] = []
        self.ranking: list[str] = []  # best first
        self.scores: dict[str, float] = {}  # the estimates the latest ranking was sorted by
        self.arms: dict[str, Arm] = {}  # UCB: what each prompt scored so far

    @classmethod
    def parts(cls, context: MethodContext, config: APEConfig) -> dict[str, Any]:
        train = context.task.split(context.train_split)
        return {
            **super().parts(context, config),
            "train": train,
            "demos": demonstrations(context.task, train),
        }

    def _halving_plan(self, round_: int) -> list[HalvingRound]:
        """Planned for the largest pool a round can have, so the step count is known before proposing."""
        cfg = self.config
        pool = cfg.num_candidates + (cfg.keep if round_ > 0 else 0)  # variations + the prompts varied
        return halving_plan(pool, cfg.keep, cfg.first_subset, len(self.train))

    def _rank_steps(self, round_: int) -> int:
        return self.config.ucb_steps if self.config.ranking == "ucb" else len(self.plans[round_])

    @property
    def total_steps(self) -> int:
        return len(self.phases)

    # ------------------------------------------------------------------ steps
    def step(self, step: int) -> dict[str, Any]:
        phase = self.phases[step]
        if phase.kind == "propose":
            return self._propose(step, phase.round)
        if self.config.ranking == "ucb":
            return self._ucb(phase)
        return self._halving(phase)

    def _propose(self, step: int, round_: int) -> dict[str, Any]:
        cfg = self.config
        varied = self.ranking[: cfg.keep] if round_ > 0 else []
        if varied:
            asks = [(variation_prompt(varied[i % len(varied)]), i) for i in range(cfg.num_candidates)]
            stage = "ape-resample"
        else:  # round 0, or nothing survived to vary: induce from demonstrations
            asks = [(induction_prompt(self._demos(round_, i)), i) for i in range(cfg.num_candidates)]
            stage = "ape-induce"
        slots = self.propose(asks, step=step, stage=stage)
        prompts = proposed(slots)
        new = [p for p in prompts if p not in self.seen]
        self.seen += new
        self.pool = list(dict.fromkeys([*varied, *new]))
        self.arms = {}
        self.emit(APEPropose(round=round_, varied=varied, slots=[s.record() for s in slots], new=new))
        counts = {"proposals": len(prompts), "new_prompts": len(new), **tally(slots)}
        return {"phase": "propose", "round": round_, **counts}

    def _demos(self, round_: int, slot: int) -> list[tuple[str, str]]:
        return draw_demos(self.demos, self.config.demos, self.keyed("demos", round_, slot))

    def _halving(self, phase: Phase) -> dict[str, Any]:
        plan = self.plans[phase.round][phase.index]
        ranked = self.ranking if phase.index > 0 else self.pool
        contestants = ranked[: plan.prompts]
        examples = [self.train[i] for i in self.order[: plan.examples]]
        scores, self.ranking = self._rank(contestants, examples)
        self.scores = scores
        self.emit(
            APERank(
                round=phase.round,
                ranking="halving",
                index=phase.index,
                examples=plan.examples,
                scores=[[p, scores[p]] for p in self.ranking],
            )
        )
        return {
            "phase": "rank",
            "round": phase.round,
            "prompts": len(contestants),
            "examples": plan.examples,
            "best_train": max(scores.values(), default=None),
        }

    def _ucb(self, phase: Phase) -> dict[str, Any]:
        cfg = self.config
        if phase.index == 0:
            self.arms = {p: Arm() for p in self.pool}
        done = sum(a.pulls for a in self.arms.values())
        for pull in range(done, done + ucb_slice(cfg.ucb_pulls, cfg.ucb_steps, phase.index)):
            if not self.arms:
                break
            prompt = upper_bound_choice(list(self.arms), self.arms, pull, cfg.ucb_exploration)
            picked = self.keyed("ucb", phase.round, pull).choice(
                len(self.train), size=min(cfg.ucb_batch, len(self.train)), replace=False
            )
            (result,) = self.evaluator.evaluate([prompt], [self.train[int(i)] for i in picked])
            self.arms[prompt].add(result.scores)
        pulled = [p for p in self.pool if p in self.arms and self.arms[p].pulls > 0]
        self.scores = {p: self.arms[p].mean for p in pulled}
        self.ranking = by_mean(pulled, self.arms)
        self.emit(
            APERank(
                round=phase.round,
                ranking="ucb",
                index=phase.index,
                arms=[[p, self.scores[p], self.arms[p].pulls] for p in self.ranking],
            )
        )
        return {
            "phase": "rank",
            "round": phase.round,
            "pulls": sum(a.pulls for a in self.arms.values()),
            "best_train": max(self.scores.values(), default=None),
        }

    def _rank(self, prompts: list[str], examples: list[Example]) -> tuple[dict[str, float], list[str]]:
        """Training means and the prompts best first (stable: ties keep their order). Raced, the
        survivors come first and prompts dropped on a partial score after them."""
        if self.race is not None:
            raced = self.score_raced(prompts, examples, "train", per_example=False)
            return {p: r.score.mean for p, r in raced.results.items()}, raced.ranked()
        scores = {r.prompt: r.mean for r in self.score(prompts, examples, "train", per_example=False)}
        return scores, sorted(prompts, key=lambda p: -scores[p])

    # ------------------------------------------------------------------ selection and checkpoints
    def candidates(self) -> list[str]:
        """The top `keep` of the latest ranking, best first (none before the first ranking step)."""
        return self.ranking[: self.config.keep]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "arms": {p: asdict(a) for p, a in self.arms.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.arms = {p: Arm(**a) for p, a in state["arms"].items()}
