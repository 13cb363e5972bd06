"""Evaluator throughput: prompt x example scorings per second, SmolLM2 on SST-2.

Three ways to score the same P prompts x N examples (each scoring = log-probs of both labels), timed
in one process, interleaved over several rounds, median per way:

  naive      one forward per (prompt, example), no batching: what a simple loop over examples does
  raw bound  the same token sequences pre-tokenised, sorted by length, one batched forward per chunk,
             no rendering, no cache, no Python bookkeeping: the cost of the tokens themselves
  evaluator  promptflux's full path from a cold cache: render, key, SQLite cache, prefix-grouped
             batches with the instruction's KV computed once per prompt

Goals (issue 2): evaluator >= 5x naive and >= 0.7x the raw bound.

    python benchmarks/evaluator_throughput.py [--prompt-set short|long --prompts 8 --examples 64 --rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from promptflux.evaluation import Evaluator, OutputCache
from promptflux.models import load_model
from promptflux.models.hf import HFLanguageModel
from promptflux.tasks import get_task

PROMPTS = [
    "",
    "Classify the sentiment of the review.",
    "Read the movie review and decide whether the reviewer liked the film. Answer positive or negative.",
    "Is this review positive or negative?",
    "You are a film critic. Judge whether the following short review expresses a favourable or an "
    "unfavourable opinion of the movie, and reply with a single word.",
    "Sentiment analysis.",
    "Decide if the text below is positive or negative in tone.",
    "Label the review as positive or negative based on the words the reviewer chose.",
]

# Instructions of the length a GFlowPO prompt-LM samples (40-70 tokens), where KV reuse matters more.
LONG_PROMPTS = [
    "You will read a short excerpt from a movie review. Think about the words the critic uses, the tone of "
    "the sentence and whether the overall judgement of the film is favourable or unfavourable, then answer "
    "with exactly one word.",
    "Below is a sentence taken from a film review. Your job is to decide whether the reviewer is expressing "
    "a positive or a negative opinion about the movie. Ignore plot details and focus on the evaluation.",
    "Sentiment classification task: each input is a fragment of a professional movie review. Label it as "
    "positive if the critic praises the film, and negative if the critic criticises it or finds it dull.",
    "Read carefully. A reviewer wrote the following sentence about a film they watched. Would they recommend "
    "the film to a friend? If yes the sentiment is positive, if not it is negative. Give only the label.",
    "As an expert in film criticism, analyse the emotional tone of the review that follows. Consider "
    "sarcasm, irony and mixed opinions, and choose the label that best summarises the critic's overall "
    "attitude.",
    "The following text is a snippet from a review on a movie website. Determine the polarity of the "
    "opinion it expresses about the movie: is the writer pleased (positive) or displeased (negative)?",
    "Instruction: classify the review. Positive reviews praise the acting, story, direction or emotional "
    "impact; negative reviews complain about boredom, bad acting, weak plots or wasted potential.",
    "Decide how the author of this review feels about the film. Strong praise, enjoyment or admiration means "
    "positive; disappointment, annoyance or boredom means negative. Answer with the single label word.",
]
PROMPT_SETS = {"short": PROMPTS, "long": LONG_PROMPTS}


def sequences(lm: HFLanguageModel, task, prompts, examples) -> tuple[list[list[int]], list[int]]:
    reqs = [task.request(p, ex) for p in prompts for ex in examples]
    label_ids = [lm.tokenizer.encode(c, add_special_tokens=False)[0] for c in reqs[0].continuations]
    return [lm.render(r.context, r.chat) for r in reqs], label_ids


@torch.inference_mode()
def naive(lm: HFLanguageModel, seqs: list[list[int]], labels: list[int]) -> float:
    start = time.perf_counter()
    for ids in seqs:
        logits = lm.model(input_ids=torch.tensor([ids])).logits[0, -1]
        torch.log_softmax(logits, -1)[labels].tolist()
    return len(seqs) / (time.perf_counter() - start)


@torch.inference_mode()
def raw_bound(lm: HFLanguageModel, seqs: list[list[int]], labels: list[int], batch: int) -> float:
    ordered = sorted(seqs, key=len)
    pad = lm.tokenizer.pad_token_id
    batches = []
    for i in range(0, len(ordered), batch):
        chunk = ordered[i : i + batch]
        width = max(map(len, chunk))
        ids = torch.tensor([s + [pad] * (width - len(s)) for s in chunk])
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in chunk])
        last = torch.tensor([len(s) - 1 for s in chunk])
        batches.append((ids, mask, last))
    start = time.perf_counter()
    for ids, mask, last in batches:
        logits = lm.model(input_ids=ids, attention_mask=mask).logits
        torch.log_softmax(logits[torch.arange(len(last)), last], -1)[:, labels].tolist()
    return len(seqs) / (time.perf_counter() - start)


def evaluator(lm: HFLanguageModel, task, prompts, examples) -> float:
    ev = Evaluator(task, lm, cache=OutputCache())  # cold in-memory cache: every pair is computed
    start = time.perf_counter()
    ev.evaluate(prompts, examples)
    return len(prompts) * len(examples) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompt-set", choices=sorted(PROMPT_SETS), default="short")
    parser.add_argument("--naive-pairs", type=int, default=128, help="pairs timed for the (slow) naive loop")
    args = parser.parse_args()

    lm = load_model("smollm2")
    assert isinstance(lm, HFLanguageModel)
    task = get_task("sst2")
    prompts = PROMPT_SETS[args.prompt_set][: args.prompts]
    examples = task.split("test")[: args.examples]
    seqs, labels = sequences(lm, task, prompts, examples)
    tokens = sum(map(len, seqs))
    instr = sum(len(lm.tokenizer.encode(p, add_special_tokens=False)) for p in prompts) / len(prompts)
    print(
        f"SmolLM2-135M fp32, {torch.get_num_threads()} threads; {args.prompt_set} prompts "
        f"({instr:.0f} tokens on average); {len(prompts)} prompts x {len(examples)} examples = "
        f"{len(seqs)} scorings, {tokens} tokens ({tokens / len(seqs):.1f} per sequence)"
    )
    rates: dict[str, list[float]] = {"naive": [], "raw bound": [], "evaluator": []}
    for r in range(args.rounds):
        step = max(1, len(seqs) // args.naive_pairs)
        rates["naive"].append(naive(lm, seqs[::step], labels))
        rates["raw bound"].append(raw_bound(lm, seqs, labels, lm.settings.batch_size))
        rates["evaluator"].append(evaluator(lm, task, prompts, examples))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f}/s" for k, v in rates.items()))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print("\nmedian scorings/s: " + ", ".join(f"{k} {v:.1f}" for k, v in med.items()))
    print(f"evaluator / naive     = {med['evaluator'] / med['naive']:.2f}x  (goal >= 5)")
    print(f"evaluator / raw bound = {med['evaluator'] / med['raw bound']:.2f}x  (goal >= 0.7)")


if __name__ == "__main__":
    main()
