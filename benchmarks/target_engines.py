"""Target-evaluation engines on the default target model: speed, agreement with fp32, hardware limit.

The same P prompts x N examples of one task are scored by every way below, interleaved prompt by
prompt (the order of the ways rotates from one prompt to the next, so a noisy neighbour on the machine
hurts every way alike). Each engine runs through promptflux's Evaluator from a cold cache.

  naive        transformers fp32, one forward (log-probs) or one generate call (generation) per pair,
               no batching, no prefix reuse; timed on a subsample (`--naive-pairs`)
  raw bound    transformers fp32, the same token sequences (for generation: prompt + fp32's answer)
               pre-tokenised, length-sorted, one batched forward per chunk, nothing else
  hf-fp32      the evaluator on transformers fp32: the exact reference every accuracy is compared with
  hf-bf16      the same in bfloat16 (opt-in `--dtype bfloat16`)
  hf-int8      the same with int8 dynamic quantisation of the linear layers (opt-in `--dtype int8`)
  llamacpp-S   the evaluator on llama.cpp in-process (Q4_K_M GGUF), S sequences decoded together

The hardware limit: FLOPs the task needs at the least (every distinct token once through the model
body: a prompt's shared prefix once, each example's own tokens, each generated token; the vocabulary
head only where logits are read; attention over the context), over the machine's peak matmul
throughput measured in the same run (torch GEMM per precision; for llama.cpp its own 512-token prefill).

    python benchmarks/target_engines.py --task sst2
    python benchmarks/target_engines.py --task ii/antonyms
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict

import torch

from evaluator_throughput import PROMPTS as SST2_PROMPTS  # benchmarks/ is on sys.path when run
from promptflux.evaluation import Evaluator, OutputCache
from promptflux.models import load_model
from promptflux.models.embedded import EMBEDDED
from promptflux.models.hf import HFLanguageModel, HFSettings
from promptflux.models.llamacpp import LlamaCppEngine, LlamaCppSettings
from promptflux.models.registry import ModelOptions
from promptflux.tasks import get_task
from promptflux.types import GenRequest

MODEL = "qwen2.5-coder-0.5b"
PROMPTS = {
    "sst2": SST2_PROMPTS,  # the evaluator benchmark's eight, so the two measure the same prompts
    "ii/antonyms": [
        "",
        "Write the antonym of the word.",
        "Give the opposite of the given word.",
        "For each input word, output a word with the opposite meaning.",
        "Antonyms.",
        "You are a thesaurus. Reply with one word that means the opposite of the input word, nothing else.",
        "Produce the word's antonym, in lower case.",
        "Think of the word that means the reverse of the input and write only that word.",
    ],
}


def hf(dtype: str) -> HFLanguageModel:
    lm = load_model(f"{MODEL}@hf", ModelOptions(hf=HFSettings(dtype=dtype)))
    assert isinstance(lm, HFLanguageModel)
    return lm


def llamacpp(slots: int) -> LlamaCppEngine:
    return LlamaCppEngine(EMBEDDED[MODEL].gguf_path(), MODEL, f"bench-{slots}", LlamaCppSettings(slots=slots))


# ---------------------------------------------------------------------- the fp32 baselines


@torch.inference_mode()
def naive(lm: HFLanguageModel, requests: list, labels: list[int] | None) -> float:
    """Seconds for the given pairs, one model call each."""
    start = time.perf_counter()
    for r in requests:
        if isinstance(r, GenRequest):
            ids = lm.render(r.prompt, r.chat, r.system)
            lm._generate_batch([ids], r.params, 1)
        else:
            ids = lm.render(r.context, r.chat, r.system)
            logits = lm.model(input_ids=torch.tensor([ids])).logits[0, -1]
            torch.log_softmax(logits, -1)[labels].tolist()
    return time.perf_counter() - start


@torch.inference_mode()
def raw_bound(lm: HFLanguageModel, seqs: list[list[int]], batch: int = 32) -> float:
    ordered = sorted(seqs, key=len)
    pad = lm.tokenizer.pad_token_id
    batches = []
    for i in range(0, len(ordered), batch):
        chunk = ordered[i : i + batch]
        width = max(map(len, chunk))
        ids = torch.tensor([[pad] * (width - len(s)) + s for s in chunk])
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in chunk])
        batches.append((ids, mask))
    start = time.perf_counter()
    for ids, mask in batches:
        lm.model(input_ids=ids, attention_mask=mask, logits_to_keep=1).logits.float().log_softmax(-1)
    return time.perf_counter() - start


# ---------------------------------------------------------------------- the hardware limit


def gemm_peak(dtype: torch.dtype, rows: int = 512) -> float:
    """FLOP/s of a model-shaped matmul (the MLP up-projection of the 0.5B) at its best of 5."""
    import warnings

    x = torch.randn(rows, 896)
    layer = torch.nn.Linear(896, 4864, bias=False)
    if dtype == torch.qint8:
        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layer = quantize_dynamic(torch.nn.Sequential(layer), {torch.nn.Linear}, dtype=torch.qint8)
    else:
        layer, x = layer.to(dtype), x.to(dtype)
    best = float("inf")
    with torch.inference_mode():
        layer(x)
        for _ in range(5):
            t = time.perf_counter()
            layer(x)
            best = min(best, time.perf_counter() - t)
    return 2 * rows * 896 * 4864 / best


def llamacpp_peak(engine: LlamaCppEngine, body_flops: float) -> float:
    """llama.cpp's own compute peak: a 512-token prefill (compute-bound), body FLOPs per second."""
    tokens = [(i * 7919) % 30000 + 1000 for i in range(512)]
    ctx = engine.batched
    best = float("inf")
    for _ in range(3):
        ctx.lib.llama_memory_seq_rm(ctx.mem, 1, -1, -1)
        t = time.perf_counter()
        ctx.decode([(tok, i, 1, i == 511) for i, tok in enumerate(tokens)])
        best = min(best, time.perf_counter() - t)
    ctx.lib.llama_memory_seq_rm(ctx.mem, 1, -1, -1)
    return 512 * body_flops / best


def needed_flops(lm: HFLanguageModel, task, prompts, examples, answers: dict) -> float:
    """The least arithmetic the scorings need: distinct tokens through the body, head where read."""
    cfg = lm.model.config
    head = cfg.vocab_size * cfg.hidden_size
    body = sum(p.numel() for p in lm.model.parameters()) - head  # embeddings tied to the head
    attn_per_pos = (
        4 * cfg.num_hidden_layers * cfg.num_attention_heads * (cfg.hidden_size // cfg.num_attention_heads)
    )
    total = 0.0
    for p in prompts:
        seqs = []
        for ex in examples:
            r = task.request(p, ex)
            ids = lm.render(r.prompt if isinstance(r, GenRequest) else r.context, r.chat, r.system)
            seqs.append((ids, answers.get((p, ex.id), 0)))
        shared = min(_lcp(seqs[0][0], s) for s, _ in seqs)
        distinct = shared + sum(len(s) - shared + n for s, n in seqs)
        heads = sum(1 + n for _, n in seqs)
        context = sum(sum(range(len(s) + n)) for s, n in seqs)  # attention: every position sees its past
        total += 2 * body * distinct + 2 * head * heads + attn_per_pos * context
    return total


def _lcp(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


# ---------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="sst2", choices=sorted(PROMPTS))
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--naive-pairs", type=int, default=32)
    parser.add_argument("--slots", default="1,16", help="llama.cpp parallel sequences to measure")
    parser.add_argument("--ways", default="naive,raw,hf-fp32,hf-bf16,hf-int8,llamacpp")
    args = parser.parse_args()
    ways = args.ways.split(",")

    task = get_task(args.task)
    prompts = PROMPTS[args.task][: args.prompts]
    examples = task.split("test")[: args.examples]
    fp32 = hf("float32")
    engines: dict[str, object] = {"hf-fp32": fp32}
    if "hf-bf16" in ways:
        engines["hf-bf16"] = hf("bfloat16")
    if "hf-int8" in ways:
        engines["hf-int8"] = hf("int8")
    if "llamacpp" in ways:
        for s in map(int, args.slots.split(",")):
            engines[f"llamacpp-{s}"] = llamacpp(s)
    generation = isinstance(task.request(prompts[0], examples[0]), GenRequest)
    load0 = os.getloadavg()[0]
    print(
        f"{MODEL}, {args.task} ({'generation' if generation else 'log-probs'}), {len(prompts)} prompts x "
        f"{len(examples)} examples = {len(prompts) * len(examples)} scorings; torch threads "
        f"{torch.get_num_threads()}; load average at start {load0:.2f}"
    )

    seconds: dict[str, float] = defaultdict(float)
    scores: dict[str, list[float]] = defaultdict(list)
    preds: dict[str, list[str]] = defaultdict(list)
    answers: dict[tuple[str, str], int] = {}
    raw_seqs: list[list[int]] = []
    naive_time, naive_count = 0.0, 0
    naive_every = max(1, len(prompts) * len(examples) // args.naive_pairs)
    naive_requests = [task.request(p, ex) for p in prompts for ex in examples][::naive_every]
    labels = None
    if not generation:
        conts = task.request(prompts[0], examples[0]).continuations
        labels = [fp32.tokenizer.encode(c, add_special_tokens=False)[0] for c in conts]
    for k, prompt in enumerate(prompts):
        order = list(engines)
        order = order[k % len(order) :] + order[: k % len(order)]
        for name in order:
            ev = Evaluator(task, engines[name], cache=OutputCache())
            t = time.perf_counter()
            (result,) = ev.evaluate([prompt], examples)
            seconds[name] += time.perf_counter() - t
            scores[name] += result.scores
            preds[name] += result.predictions
            if name == "hf-fp32":
                for ex, pred in zip(examples, result.predictions):
                    r = task.request(prompt, ex)
                    ids = fp32.render(r.prompt if generation else r.context, r.chat, r.system)
                    answer = fp32.tokenizer.encode(pred, add_special_tokens=False) if generation else []
                    answers[(prompt, ex.id)] = len(answer)
                    raw_seqs.append(ids + answer)
        if "naive" in ways:
            mine = naive_requests[k :: len(prompts)]
            naive_time += naive(fp32, mine, labels)
            naive_count += len(mine)
            seconds["naive"] = naive_time * len(prompts) * len(examples) / max(1, naive_count)
        print(
            f"prompt {k + 1}/{len(prompts)}: " + ", ".join(f"{n} {seconds[n]:.0f}s" for n in seconds),
            flush=True,
        )
    if "raw" in ways:
        seconds["raw bound"] = raw_bound(fp32, raw_seqs)

    flops = needed_flops(fp32, task, prompts, examples, answers)
    cfg = fp32.model.config
    body = sum(p.numel() for p in fp32.model.parameters()) - cfg.vocab_size * cfg.hidden_size
    peaks = {
        "fp32": gemm_peak(torch.float32),
        "bf16": gemm_peak(torch.bfloat16),
        "int8": gemm_peak(torch.qint8),
    }
    llama = next((e for n, e in engines.items() if n.startswith("llamacpp")), None)
    if llama is not None:
        peaks["llamacpp"] = llamacpp_peak(llama, 2 * body)
    precision = {
        "naive": "fp32",
        "raw bound": "fp32",
        "hf-fp32": "fp32",
        "hf-bf16": "bf16",
        "hf-int8": "int8",
    }

    n = len(prompts) * len(examples)
    ref = scores["hf-fp32"]
    print(f"\nload average at end {os.getloadavg()[0]:.2f}; least work {flops / 1e12:.2f} TFLOP;")
    print("peak matmul: " + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in peaks.items()))
    print("\n| way | scorings/s | x naive | x hf-fp32 | accuracy | vs fp32 | same | limit /s | of limit |")
    print("|---|---|---|---|---|---|---|---|---|")
    naive_rate = n / seconds["naive"] if "naive" in seconds else float("nan")
    for name in ["naive", "raw bound", *engines]:
        if name not in seconds:
            continue
        rate = n / seconds[name]
        kind = "llamacpp" if name.startswith("llamacpp") else precision.get(name, "fp32")
        peak = peaks[kind]
        limit = n / (flops / peak) if peak else float("nan")
        acc = same = delta = ""
        if name in scores:
            mean = sum(scores[name]) / n
            acc = f"{mean:.3f}"
            delta = f"{100 * (mean - sum(ref) / n):+.1f} pt"
            same = f"{sum(a == b for a, b in zip(preds[name], preds['hf-fp32'])) / n:.3f}"
        print(
            f"| {name} | {rate:.2f} | {rate / naive_rate:.1f} | {rate / (n / seconds['hf-fp32']):.2f} "
            f"| {acc} | {delta} | {same} | {limit:.2f} | {rate / limit:.2f} |"
        )


if __name__ == "__main__":
    main()
