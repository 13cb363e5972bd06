"""The GFlowPO training loop: wires the components of this package into steps a run driver can checkpoint.

One step (GFLOWPO.md):
  1. DMU references (after the delay): 1 prompt from the priority queue Q + 2 from the diverse pool.
  2. Per micro-batch: a fresh meta-prompt M (demonstrations resampled from the held-out pool).
     Warm-up, or with probability `online_ratio` (or, `paced`, while the calls spent are behind an
     even share of the budget): sample on-policy at a temperature drawn from the
     range, and score the new prompts on the training split (the evaluator's ledger makes a prompt
     this run already scored free). Otherwise replay prompts from the buffer: their accuracy is known,
     so they cost no target call; only their prior is recomputed under the current M.
  3. log R = log p_ref(z | M) / gamma + log(acc + eps) / beta; the trajectory-balance loss with the
     VarGrad-EMA (or learned) log Z; gradients accumulate over the micro-batches.
  4. After warm-up: clip, AdamW step, LR schedule step. Push each micro-batch's best prompt into Q;
     refresh the diverse pool.

With `seed_prompts`, step 0 first plants prompts found elsewhere (components/seeds.py): scored on the
training split like samples, given their prior under step 0's meta-prompt, and put into the replay buffer
and Q, so replay and DMU draw on them from the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from promptflux.optimizers.components.meta_prompt import MetaPrompt
from promptflux.optimizers.components.prompt_lm import PromptLMMethod
from promptflux.optimizers.components.seeds import SeedPrompts, load_seed_prompts
from promptflux.optimizers.gflowpo.config import GFlowPOConfig
from promptflux.optimizers.gflowpo.dmu import DiversePool, PriorityQueue, draw_references
from promptflux.optimizers.gflowpo.objective import LogZ, log_reward, make_log_z, trajectory_balance_loss
from promptflux.optimizers.gflowpo.replay import ReplayBuffer, ReplayEntry
from promptflux.optimizers.gflowpo.schedule import config_lr_lambda
from promptflux.runs.event_types import Eval, MicroBatch, SeedsPlanted
from promptflux.types import Role

if TYPE_CHECKING:
    from promptflux.optimizers.context import MethodContext


@dataclass(frozen=True)
class Scored:
    """One prompt of a micro-batch with everything its reward is made of."""

    text: str
    token_ids: tuple[int, ...]
    accuracy: float
    scores: tuple[float, ...]
    replayed: bool


class GFlowPOMethod(PromptLMMethod):
    """Trains a LoRA prompt-LM to sample prompts in proportion to prior x tempered training accuracy."""

    name = "gflowpo"
    summary = "GFlowNet-trained LoRA prompt-LM with replay and Dynamic Memory Update (Cho et al. 2026)"
    Config = GFlowPOConfig
    state = ("rng",)

    def __init__(
        self, config: GFlowPOConfig, *args: Any, seeds: SeedPrompts | None = None, **kwargs: Any
    ) -> None:
        """The parts of every prompt-LM method (PromptLMMethod), then this method's own."""
        super().__init__(config, *args, **kwargs)
        self.seeds = seeds
        self.beta = config.resolve_beta(len(self.drawer.train))
        self.buffer = ReplayBuffer(config.replay_capacity, config.replay_rank_by)
        self.queue = PriorityQueue(config.dmu_queue_size)
        self.pool = DiversePool.from_config(config)
        self.log_z: LogZ = make_log_z(config, self.policy.lm.device)
        groups = [{"params": self.policy.parameters(), "lr": config.lr}, *self.log_z.param_groups()]
        self.adamw = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
        lr_lambda = config_lr_lambda(config)
        # The learned log Z keeps its own constant rate; only the adapter follows the schedule.
        lambdas = [lr_lambda] + [lambda _: 1.0] * (len(groups) - 1)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.adamw, lambdas)

    @classmethod
    def parts(cls, context: MethodContext, config: GFlowPOConfig) -> dict[str, Any]:
        parts = super().parts(context, config)
        if config.seed_prompts:  # read at build time: a bad source fails before any step runs
            parts["seeds"] = load_seed_prompts(config.seed_prompts, config.seed_limit, context.ledger)
        return parts

    # ------------------------------------------------------------------ one step

    def step(self, step: int) -> dict[str, Any]:
        cfg = self.config
        warmup = cfg.is_warmup(step)
        if step == 0 and self.seeds is not None:
            self._plant_seeds(self.seeds)
        self.pool.update(step, self.buffer, self.rng)
        torch_seed = int(self.rng.integers(2**62))  # LoRA dropout noise, reproducible on resume
        losses, batches = [], []
        with torch.random.fork_rng(devices=self.policy.lm.rng_devices):
            torch.manual_seed(torch_seed)
            for micro in range(cfg.grad_accumulation):
                refs = self._references(step)
                meta = self.builder.build(self.rng, references=refs)
                online = warmup or len(self.buffer) == 0 or self._on_policy(step, micro)
                temperature = float(self.rng.uniform(*cfg.temperature_range)) if online else None
                batch = self._sample(meta, temperature) if online else self._replay()
                if not batch:
                    continue
                ids = [b.token_ids for b in batch]
                log_prior = self.policy.log_prior(meta, ids)
                acc = torch.tensor([b.accuracy for b in batch], device=log_prior.device)
                log_r = log_reward(log_prior, acc, cfg.gamma, self.beta, cfg.eps)
                self._remember(step, batch, log_prior, log_r)
                learned: dict[str, Any] = {}
                if not warmup:
                    log_q = self.policy.log_q(meta, ids)
                    log_z = self.log_z.for_batch(log_q.detach(), log_r)
                    loss = trajectory_balance_loss(log_z, log_q, log_r)
                    (loss / cfg.grad_accumulation).backward()
                    losses.append(loss.item())
                    learned = {"log_q": log_q.tolist(), "log_z": float(log_z), "loss": loss.item()}
                record = MicroBatch(
                    step=step,
                    micro=micro,
                    online=online,
                    temperature=temperature,
                    meta_prompt=meta.to_event(),
                    prompts=[b.text for b in batch],
                    accuracy=[b.accuracy for b in batch],
                    replayed=[b.replayed for b in batch],
                    log_prior=log_prior.tolist(),
                    log_reward=log_r.tolist(),
                    **learned,
                    budget=self.budget.snapshot(),
                )
                batches.append(record)
                self.emit(record)
        summary: dict[str, Any] = {"warmup": warmup, "buffer": len(self.buffer)}
        if not warmup and losses:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
            self.adamw.step()
            self.scheduler.step()
            self.adamw.zero_grad(set_to_none=True)
            summary.update(
                loss=float(np.mean(losses)),
                grad_norm=float(grad_norm),
                lr=self.scheduler.get_last_lr()[0],
                log_z=self.log_z.value,
            )
        accs = [a for r in batches for a, rep in zip(r.accuracy, r.replayed) if not rep]
        summary["new_prompts"] = len(accs)
        summary["mean_train_acc"] = float(np.mean(accs)) if accs else None
        summary["best_train_acc"] = self.queue.items[0].accuracy if len(self.queue) else None
        return summary

    def _on_policy(self, step: int, micro: int) -> bool:
        """Whether a training micro-batch samples fresh prompts (else it replays the buffer).

        The reference flips a coin. At a few dozen steps the flips can all land on replay, and then the
        run trains on its warm-up prompts alone and leaves most of its budget unspent (issue 14: one
        seed used 128 of 384 calls on every task). `paced` goes on-policy while the target calls spent
        are below this micro-batch's even share of the limit, so the fresh batches are spread over
        the run and the budget is used; a batch of prompts the run already scored costs nothing, and
        the next micro-batch samples again. It never starts a batch the budget cannot pay for in
        full: that would end the run on the budget and lose the remaining (free) replay updates.
        """
        cfg = self.config
        limit = self.budget.limits.target_calls
        if cfg.online_schedule == "coin" or limit is None:
            return self.rng.random() < cfg.online_ratio
        done = step * cfg.grad_accumulation + micro + 1
        if self.budget.used[Role.TARGET].calls >= limit * done / (cfg.steps * cfg.grad_accumulation):
            return False
        return self.budget.room(Role.TARGET) >= cfg.micro_batch_size * len(self.drawer.train)

    def _plant_seeds(self, seeds: SeedPrompts) -> None:
        """Score the seeds on the training split and add them to the buffer and Q (before step 0)."""
        texts = list(seeds.texts)
        results = self.drawer.evaluator.evaluate(texts, self.drawer.train)
        for r in results:
            self.emit(Eval(split="train", prompt=r.prompt, scores=r.scores, accuracy=r.mean))
        meta = self.builder.build(self.rng, references=[])
        ids = [self.policy.trajectory_of(t) for t in texts]
        log_prior = self.policy.log_prior(meta, ids)
        acc = torch.tensor([r.mean for r in results], device=log_prior.device)
        log_r = log_reward(log_prior, acc, self.config.gamma, self.beta, self.config.eps)
        for r, tid, lp, lr in zip(results, ids, log_prior.tolist(), log_r.tolist()):
            self.buffer.add(ReplayEntry(r.prompt, tid, r.mean, r.scores, lp, lr, 0))
            self.queue.push(r.prompt, r.mean, 0)
        self.emit(
            SeedsPlanted(
                source=seeds.source,
                prompts=texts,
                accuracy=[r.mean for r in results],
                imported_answers=seeds.imported_answers,
                budget=self.budget.snapshot(),
            )
        )

    def _references(self, step: int) -> list[str]:
        cfg = self.config
        if not cfg.dmu_active(step):
            return []
        return draw_references(self.queue, self.pool, cfg.dmu_from_queue, cfg.dmu_from_diverse, self.rng)

    def _sample(self, meta: MetaPrompt, temperature: float | None) -> list[Scored]:
        cfg = self.config
        draw = self.drawer.draw(
            meta,
            cfg.micro_batch_size,
            temperature=temperature or 1.0,
            top_p=cfg.top_p,
            max_new_tokens=cfg.max_new_tokens,
            rng=self.rng,
        )
        return [
            Scored(s.text, s.token_ids, draw.scores[s.text].mean, draw.scores[s.text].scores, replayed=False)
            for s in draw.samples
            if s.text
        ]

    def _replay(self) -> list[Scored]:
        cfg = self.config
        entries = self.buffer.sample(
            cfg.micro_batch_size,
            self.rng,
            mode=cfg.replay_sampling,
            temperature=cfg.replay_softmax_temperature,
        )
        # Known accuracy, no target call: the whole point of the replay buffer.
        return [Scored(e.text, e.token_ids, e.accuracy, e.scores, replayed=True) for e in entries]

    def _remember(self, step: int, batch: list[Scored], log_prior: torch.Tensor, log_r: torch.Tensor) -> None:
        for b, lp, lr in zip(batch, log_prior.tolist(), log_r.tolist()):
            if not b.replayed:
                self.buffer.add(ReplayEntry(b.text, b.token_ids, b.accuracy, b.scores, lp, lr, step))
        best = max(batch, key=lambda b: (b.accuracy, -len(b.text)))
        self.queue.push(best.text, best.accuracy, step)

    # ------------------------------------------------------------------ selection and checkpoints

    def candidates(self, n_sampled: int = 10) -> list[str]:
        """Prompts worth validating: the priority queue, then the best sampled ones by training accuracy."""
        by_acc = sorted(self.buffer.entries, key=lambda e: (-e.accuracy, len(e.text)))
        return list(dict.fromkeys([*self.queue.texts, *(e.text for e in by_acc[:n_sampled])]))

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),  # the first sample, the adapter, the random stream
            "optimizer": self.adamw.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "log_z": self.log_z.state_dict(),
            "buffer": self.buffer.state_dict(),
            "queue": self.queue.state_dict(),
            "pool": self.pool.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.adamw.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.log_z.load_state_dict(state["log_z"])
        self.buffer = ReplayBuffer.from_state(state["buffer"])
        self.queue = PriorityQueue.from_state(state["queue"])
        self.pool = DiversePool.from_state(state["pool"])
