"""GFlowPO end to end: from a run config to a finished run folder (new or resumed).

The run config (written to the run folder, no secrets) is the single source of truth: `--resume`
rebuilds models, task, trainer and budget from it, then the driver restores the checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from promptflux.errors import ConfigError
from promptflux.evaluation import Budget, BudgetLimits, Evaluator, OutputCache
from promptflux.evaluation.cache import default_cache_path
from promptflux.models import ModelOptions, load_model
from promptflux.models.base import LanguageModel
from promptflux.models.hf import FrozenBase, HFLanguageModel, HFSettings
from promptflux.optimizers.gflowpo.config import GFlowPOConfig
from promptflux.optimizers.gflowpo.policy import PromptPolicy
from promptflux.optimizers.gflowpo.trainer import GFlowPOTrainer
from promptflux.runs import RunFolder
from promptflux.runs.driver import Selection, run_optimizer
from promptflux.tasks import Task, get_task


class RunSpec(BaseModel):
    """Everything that defines a GFlowPO run; saved as the run folder's config.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str = "gflowpo"
    task: str = "sst2"
    data_seed: int | None = None
    target: str = "smollm2"
    prompt_lm: str = "smollm2"  # the same spec as the target shares its weights (adapter off)
    device: str = "auto"
    dtype: str = "auto"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    max_target_calls: int | None = None
    max_wall_seconds: float | None = None
    val_split: str = "dev"
    test_split: str = "test"
    gflowpo: GFlowPOConfig = GFlowPOConfig()


def run_gflowpo(
    spec: RunSpec | None,
    run_dir: Path,
    *,
    resume: bool = False,
    cache: OutputCache | None = None,
    on_step: Callable[[int, dict[str, Any]], None] | None = None,
    on_start: Callable[[RunSpec, int], None] | None = None,
) -> dict[str, Any]:
    """Create (or resume) the run in `run_dir` and run it to the end; returns result.json's content.

    Task and models are loaded before a new run folder is created, so a typo in a spec leaves no
    half-made folder behind.
    """
    run = None
    if resume:
        run = RunFolder.open(run_dir)
        spec = RunSpec.model_validate(run.config())
    elif spec is None:
        raise ConfigError("a new run needs a spec")
    task, policy, target = _components(spec)
    if run is None:
        run = RunFolder.create(run_dir, spec.model_dump(mode="json"))
    try:
        limits = BudgetLimits(target_calls=spec.max_target_calls, wall_seconds=spec.max_wall_seconds)
        budget = Budget(limits)
        ledger = OutputCache(run.path / "ledger.sqlite")
        shared = cache if cache is not None else OutputCache(default_cache_path())
        common = {"cache": shared, "ledger": ledger, "budget": budget}
        trainer = GFlowPOTrainer(
            spec.gflowpo,
            policy,
            Evaluator(task, target, **common),
            train=task.split("train"),
            demo_pool=task.split(spec.val_split),
            budget=budget,
            events=run.events,
        )
        if on_start is not None:
            on_start(spec, trainer.total_steps)
        return run_optimizer(
            trainer,
            run=run,
            train_evaluator=trainer.evaluator,
            selection_evaluator=Evaluator(task, target, role="selection", **common),
            budget=budget,
            selection=Selection(val_split=spec.val_split, test_split=spec.test_split),
            on_step=on_step,
        )
    finally:
        run.close()


def _components(spec: RunSpec) -> tuple[Task, PromptPolicy, LanguageModel]:
    """The task, the prompt-LM policy, and the target (sharing the prompt-LM's weights if specs match)."""
    task = get_task(spec.task, seed=spec.data_seed)
    options = ModelOptions(
        hf=HFSettings(device=spec.device, dtype=spec.dtype, seed=spec.gflowpo.seed),
        base_url=spec.base_url,
        api_key_env=spec.api_key_env,
    )
    prompt_lm = load_model(spec.prompt_lm, options)
    if not isinstance(prompt_lm, HFLanguageModel):
        raise ConfigError(
            f"the prompt-LM must be a local trainable model (smollm2, gemma3-270m, hf:<folder>), "
            f"not {spec.prompt_lm!r}"
        )
    policy = PromptPolicy(prompt_lm, spec.gflowpo.lora_settings())
    same = spec.target == spec.prompt_lm
    target: LanguageModel = FrozenBase(prompt_lm) if same else load_model(spec.target, options)
    return task, policy, target
