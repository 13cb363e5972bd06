"""A randomly initialised tiny Llama with the SmolLM2 tokenizer: real code paths, milliseconds per step.

For unit tests and pipeline smoke runs (`--target tiny-random`); its outputs are noise by design.
"""

from __future__ import annotations

from promptflux.models.embedded import materialize
from promptflux.models.hf import HFLanguageModel, HFSettings


def tiny_random_model(seed: int = 0, settings: HFSettings = HFSettings()) -> HFLanguageModel:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(materialize("smollm2"))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return HFLanguageModel(model, tokenizer, f"tiny-random-{seed}", settings)
