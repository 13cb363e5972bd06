"""PromptPolicy on a tiny random Llama: sampled ids are the scored ids, and TB updates touch LoRA only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from promptflux.errors import ConfigError
from promptflux.models.tiny import tiny_random_model
from promptflux.optimizers.components.meta_prompt import MetaPrompt
from promptflux.optimizers.components.policy import PromptPolicy
from promptflux.optimizers.gflowpo.config import GFlowPOConfig
from promptflux.optimizers.gflowpo.objective import VarGradEMA, log_reward, trajectory_balance_loss

META = MetaPrompt(
    text="Input: a great film\nOutput: positive\n\nWhat was the instruction?",
    answer_prefix="The instruction was:",
    demos=(),
    references=(),
)
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")

SAMPLING = {"temperature": 1.0, "top_p": 0.9, "max_new_tokens": 8}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """A tiny model gains nothing from intra-op threads, and on a busy machine they contend (10x slower)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def make_policy(seed: int = 0) -> PromptPolicy:
    return PromptPolicy(tiny_random_model(seed), GFlowPOConfig().lora_settings())


@pytest.fixture(scope="module")
def policy() -> PromptPolicy:
    return make_policy()


def test_samples_have_trajectory_ids_and_are_reproducible_from_the_rng(policy):
    samples = policy.sample(META, 3, rng=np.random.default_rng(0), **SAMPLING)
    assert len(samples) == 3
    for s in samples:
        assert 1 <= len(s.token_ids) <= SAMPLING["max_new_tokens"]
        assert s.finished == (s.token_ids[-1] in policy.terminal_ids)
        assert s.raw == policy.lm.tokenizer.decode(list(s.token_ids), skip_special_tokens=True)
    again = policy.sample(META, 3, rng=np.random.default_rng(0), **SAMPLING)
    assert [s.token_ids for s in again] == [s.token_ids for s in samples]
    other = policy.sample(META, 3, rng=np.random.default_rng(1), **SAMPLING)
    assert [s.token_ids for s in other] != [s.token_ids for s in samples]


def test_bad_sampling_arguments_raise(policy):
    with pytest.raises(ValueError, match="temperature"):
        policy.sample(META, 2, rng=np.random.default_rng(0), temperature=0.0, top_p=0.9, max_new_tokens=4)


def test_trajectories_end_at_the_first_newline_or_eos_token(policy):
    tok = policy.lm.tokenizer
    ids = tok.encode(" Classify the review.\nThen explain why.", add_special_tokens=False)
    cut, finished = policy.split_trajectory(ids)
    assert finished and "\n" in tok.decode(list(cut)) and len(cut) < len(ids)
    assert tok.decode(list(cut)).split("\n")[0] == " Classify the review."
    eos = tok.eos_token_id
    assert policy.split_trajectory([5, 6, eos, 7]) == ((5, 6, eos), True)
    assert policy.split_trajectory([5, 6, 7]) == ((5, 6, 7), False)


def test_context_is_the_chat_turn_plus_the_answer_prefix(policy):
    text = policy.lm.tokenizer.decode(policy.context_ids(META))
    assert META.text in text
    assert text.endswith("assistant\nThe instruction was:")


def test_log_q_equals_the_prior_before_training_and_only_log_q_has_grad(policy):
    ids = [s.token_ids for s in policy.sample(META, 4, rng=np.random.default_rng(2), **SAMPLING)]
    log_q = policy.log_q(META, ids, train_mode=False)
    log_p = policy.log_prior(META, ids)
    assert log_q.shape == log_p.shape == (4,)
    assert log_q.requires_grad and not log_p.requires_grad
    assert torch.allclose(log_q, log_p, atol=1e-5)  # LoRA starts as the identity (B = 0)
    assert policy.log_q(META, []).shape == (0,)
    with pytest.raises(ValueError, match="empty trajectory"):
        policy.log_prior(META, [[]])


def lora_and_base(policy: PromptPolicy) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    named = {n: p.detach().clone() for n, p in policy.lm.model.named_parameters()}
    lora = {n: p for n, p in named.items() if "lora_" in n}
    return lora, {n: p for n, p in named.items() if "lora_" not in n}


def tb_step(policy: PromptPolicy, ids, optimizer: torch.optim.Optimizer) -> float:
    log_p = policy.log_prior(META, ids)
    log_r = log_reward(log_p, [0.0, 0.25, 0.75, 1.0], gamma=1.0, beta=0.25)
    log_q = policy.log_q(META, ids)
    loss = trajectory_balance_loss(VarGradEMA().for_batch(log_q, log_r), log_q, log_r)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
    optimizer.step()
    return loss.item()


def test_a_tb_update_changes_lora_weights_and_log_q_but_not_the_base_or_the_prior():
    policy = make_policy(seed=1)
    ids = [s.token_ids for s in policy.sample(META, 4, rng=np.random.default_rng(0), **SAMPLING)]
    lora_before, base_before = lora_and_base(policy)
    q_before = policy.log_q(META, ids, train_mode=False).detach()
    p_before = policy.log_prior(META, ids)
    assert all("lora_" in n for n, p in policy.lm.model.named_parameters() if p.requires_grad)

    tb_step(policy, ids, torch.optim.AdamW(policy.parameters(), lr=1e-3))

    lora_after, base_after = lora_and_base(policy)
    assert any(not torch.equal(lora_before[n], lora_after[n]) for n in lora_before)
    assert all(torch.equal(base_before[n], base_after[n]) for n in base_before)
    assert not torch.allclose(policy.log_q(META, ids, train_mode=False), q_before, atol=1e-5)
    assert torch.allclose(policy.log_prior(META, ids), p_before, atol=1e-6)


def test_adapter_state_restores_the_policy():
    policy = make_policy(seed=2)
    ids = [s.token_ids for s in policy.sample(META, 4, rng=np.random.default_rng(0), **SAMPLING)]
    saved = policy.adapter_state()
    q_saved = policy.log_q(META, ids, train_mode=False).detach()
    assert saved and all("lora_" in k for k in saved)
    tb_step(policy, ids, torch.optim.AdamW(policy.parameters(), lr=1e-2))
    assert not torch.allclose(policy.log_q(META, ids, train_mode=False), q_saved, atol=1e-5)
    policy.load_adapter_state(saved)
    assert torch.allclose(policy.log_q(META, ids, train_mode=False), q_saved, atol=1e-6)


def test_a_model_without_adapter_is_refused():
    with pytest.raises(ConfigError, match="no trainable adapter"):
        PromptPolicy(tiny_random_model(0))
