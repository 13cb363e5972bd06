"""Knowing the cost before running: the projection against what real runs then spend, prices, and the
dollar budget ending a run cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from promptflux import recipe
from promptflux.cli import app
from promptflux.costs import gather_prices, project
from promptflux.costs.prices import parse_price_flags
from promptflux.costs.shapes import search_shape
from promptflux.costs.tokens import TokenCounter
from promptflux.errors import ConfigError
from promptflux.evaluation import OutputCache
from promptflux.models.embedded import converted_dir
from promptflux.optimizers.ape import APEConfig
from promptflux.optimizers.gflowpo import GFlowPOConfig
from tests.faults.conftest import one_line
from tests.optimizers.fakes import review_task_spec

TOKENS_TOLERANCE = 0.0  # with the target's tokenizer on disk, known prompts are counted exactly


def needs_smollm2_tokenizer() -> None:
    if not (converted_dir("smollm2") / "tokenizer.json").is_file():
        pytest.skip("SmolLM2's tokenizer is not converted on this machine")


def test_token_counts_follow_the_transformers_backend_exactly():
    needs_smollm2_tokenizer()
    from transformers import AutoTokenizer

    from promptflux.models.hf import HFLanguageModel

    tok = AutoTokenizer.from_pretrained(converted_dir("smollm2"))
    backend = type("Backend", (), {"tokenizer": tok, "has_chat_template": bool(tok.chat_template)})()
    counter = TokenCounter("smollm2")
    assert counter.exact and TokenCounter("tiny-random").exact
    for text in ("Classify it.\nReview: a {fine} film\nSentiment:", "x", "Ünïcode — ok"):
        for chat in (False, True):
            assert counter.count(text, chat) == len(HFLanguageModel.render(backend, text, chat))
    history = (("first question", "first answer"),)
    assert counter.count("next", True, history) == len(
        HFLanguageModel.render(backend, "next", True, None, history)
    )
    estimate = TokenCounter("openai:some-model")
    assert not estimate.exact and estimate.count("x" * 400) == 100 and "characters / 4" in estimate.basis


def test_prices_from_flags_and_a_file(tmp_path):
    file = tmp_path / "prices.yaml"
    file.write_text("openai:gpt-4o-mini: 0.15/0.60\nsmollm2: [1, 2]\nother: {in: 3, out: 4}\n")
    prices = gather_prices(["smollm2=0.5/1", "llamacpp:/m/a=b.gguf=1/1"], file)
    assert prices == {
        "openai:gpt-4o-mini": (0.15, 0.60),
        "smollm2": (0.5, 1.0),
        "other": (3.0, 4.0),
        "llamacpp:/m/a=b.gguf": (1.0, 1.0),
    }
    for bad in ("smollm2", "smollm2=1", "smollm2=a/b", "=1/2", "smollm2=-1/2"):
        with pytest.raises(ConfigError, match="--price"):
            parse_price_flags([bad])


def fixed_spec(task: str, target: str, **fields):
    return recipe.make_spec("fixed", "default", {"instruction": "Is this review positive or negative?"},
                            task=task, target=target, **fields)  # fmt: skip


def spent(result: dict) -> dict:
    return result["budget"]


def test_a_fixed_prompt_run_spends_exactly_the_projection(tmp_path):
    """Every call and every prompt token of a known prompt is projected exactly (tiny random target,
    which reads with SmolLM2's tokenizer)."""
    needs_smollm2_tokenizer()
    task = review_task_spec(tmp_path, "{train: 4, dev: 6, test: 10}")
    spec = fixed_spec(task, "tiny-random", test_examples=7)
    projection = project(spec)
    result = recipe.run(spec, tmp_path / "run", cache=OutputCache(tmp_path / "c.sqlite"))
    b = spent(result)
    search, val, test = (projection.total(phase) for phase in ("search", "validation", "test"))
    assert search["calls"] == b["target_calls"] == 0
    assert val["calls"] + test["calls"] == b["selection_calls"] > 0  # duplicates sent once, as the run does
    tokens = val["prompt_tokens"] + test["prompt_tokens"]
    assert abs(tokens - b["selection_prompt_tokens"]) <= TOKENS_TOLERANCE * b["selection_prompt_tokens"]
    assert all(line.exact for line in projection.lines)


@pytest.fixture()
def tagging_task(tmp_path: Path, tagging) -> str:
    return review_task_spec(tmp_path, "{train: 6, dev: 4, test: 4}", copies=2)


def opro_spec(task: str, **fields):
    return recipe.make_spec(
        "opro", "quick", {"steps": 3}, task=task, target="tiny-random", optimizer_model="tagging", **fields
    )


def test_a_search_spends_at_most_its_projection(tmp_path, tagging_task):
    spec = opro_spec(tagging_task)
    projection = project(spec)
    result = recipe.run(spec, tmp_path / "run", cache=OutputCache(tmp_path / "c.sqlite"))
    b = spent(result)
    target = projection.total("search", "target")
    (optimizer,) = [x for x in projection.lines if x.role == "optimizer"]
    assert 0 < b["target_calls"] <= target["calls"]
    assert optimizer.calls_low <= b["optimizer_calls"] <= optimizer.calls
    assert b["selection_calls"] <= projection.total("validation")["calls"] + projection.total("test")["calls"]


@pytest.mark.parametrize(
    ("method", "sets"),
    [
        ("ape", {"num_candidates": 6, "first_subset": 2, "keep": 2}),
        ("ape", {"num_candidates": 4, "ranking": "ucb", "ucb_pulls": 6, "ucb_batch": 2, "ucb_steps": 2}),
        ("protegi", {"steps": 2, "pulls_per_step": 6}),
    ],
    ids=["ape-halving", "ape-ucb", "protegi"],
)
def test_ape_and_protegi_searches_spend_within_their_projection(tmp_path, tagging_task, method, sets):
    spec = recipe.make_spec(
        method, "quick", sets, task=tagging_task, target="tiny-random", optimizer_model="tagging"
    )
    projection = project(spec)
    assert "projected at its budget" not in " ".join(projection.notes)
    result = recipe.run(spec, tmp_path / "run", cache=OutputCache(tmp_path / "c.sqlite"))
    b = spent(result)
    (optimizer,) = [x for x in projection.lines if x.role == "optimizer"]
    assert 0 < b["target_calls"] <= projection.total("search", "target")["calls"]
    assert optimizer.calls_low <= b["optimizer_calls"] <= optimizer.calls


def test_ape_halving_formula_counts_only_the_examples_each_round_adds() -> None:
    """24 proposals halved on 8, 16, 32 examples: 24x8 + 12x8 + 6x16 = 384 (the evidence grid's APE,
    which spent 360-384 because repeated proposals are free)."""
    shape = search_shape("ape", APEConfig(num_candidates=24, first_subset=8, keep=3), 32)
    assert (shape.example_calls, shape.optimizer_min, shape.exact) == (384, 24, False)


def test_a_gflowpo_search_spends_within_its_projection(tmp_path):
    """The prompt-LM's samples (optimiser calls) and their scorings (target calls) stay within the
    all-on-policy bound and at least the warm-up's; the tiny random model as prompt-LM and target."""
    task = review_task_spec(tmp_path, "{train: 4, dev: 4, test: 4}")
    sets = {"steps": 4, "warmup_steps": 1, "micro_batch_size": 2, "max_new_tokens": 6, "online_ratio": 0.5}
    spec = recipe.make_spec(
        "gflowpo", "quick", sets, task=task, target="tiny-random", prompt_lm="tiny-random"
    )
    projection = project(spec)
    result = recipe.run(spec, tmp_path / "run", cache=OutputCache(tmp_path / "c.sqlite"))
    b = spent(result)
    (optimizer,) = [x for x in projection.lines if x.role == "optimizer"]
    assert (optimizer.calls_low, optimizer.calls) == (2, 8)
    assert optimizer.calls_low <= b["optimizer_calls"] <= optimizer.calls
    assert 0 < b["target_calls"] <= projection.total("search", "target")["calls"] == 8 * 4


def test_the_gflowpo_projection_names_its_online_schedule() -> None:
    coin = search_shape("gflowpo", GFlowPOConfig(steps=12, warmup_steps=1, online_ratio=0.25), 32)
    paced = search_shape("gflowpo", GFlowPOConfig(steps=12, warmup_steps=1, online_schedule="paced"), 32)
    assert "expected at online_ratio 0.25" in coin.note and "paced" not in coin.note
    assert "paced: up to the target-call budget" in paced.note
    assert paced.prompts == coin.prompts  # the all-on-policy bound is the same


def test_a_dollar_budget_ends_the_search_cleanly_and_can_be_raised_on_resume(tmp_path, tagging_task):
    price = (1000.0, 0.0)  # $ per 1M prompt tokens: each target call costs about 1.5 cents here
    full = recipe.run(opro_spec(tagging_task), tmp_path / "full", cache=OutputCache(tmp_path / "f.sqlite"))
    full_usd = full["budget"]["target_prompt_tokens"] * price[0] / 1e6
    limit = round(full_usd / 3, 4)
    spec = opro_spec(tagging_task, max_usd=limit, prices={"tiny-random": price})
    result = recipe.run(spec, tmp_path / "run", cache=OutputCache(tmp_path / "c.sqlite"))
    b = spent(result)
    assert "dollar budget of $" in result["stopped"] and result["ended"]["reason"] == "budget"
    per_call = b["search_usd"] / b["target_calls"]
    assert limit <= b["search_usd"] < limit + 2 * per_call  # stopped within about one call of the limit
    assert b["target_calls"] < full["budget"]["target_calls"] and result["best_prompt"] is not None

    with pytest.raises(ConfigError, match="finished"):  # a finished run is not continued
        recipe.run(None, tmp_path / "run", resume=True, changes={"max_usd": 1.0})
    with pytest.raises(ConfigError, match="needs a price"):
        recipe.run(opro_spec(tagging_task, max_usd=1.0), tmp_path / "r2", cache=OutputCache())


def invoke(*args: str):
    done = CliRunner().invoke(app, [str(a) for a in args])
    return done.exit_code, " ".join(done.output.split())


def test_dry_runs_print_the_projection_and_load_no_model(tmp_path, monkeypatch):
    from promptflux.optimizers import context

    def no_model(*_):
        raise AssertionError("a dry run loaded a model")

    monkeypatch.setattr(context, "load_model", no_model)
    task = review_task_spec(tmp_path, "{train: 4, dev: 6, test: 10}")
    args = ["--method", "opro", "--preset", "quick", "--target", "smollm2", "--optimizer-model", "smollm2"]
    code, out = invoke("optimize", "--task", task, *args, "--dry-run", "--price", "smollm2=1/2",
                       "--max-usd", "0.5", "--run-dir", tmp_path / "run")  # fmt: skip
    assert code == 0, out
    assert "dry run: opro on" in out and "search" in out and "validation" in out and "test" in out
    assert "fits in --max-usd $0.5" in out
    assert not (tmp_path / "run").exists()
    code, out = invoke(
        "compare", "--tasks", task, "--methods", "fixed,opro", "--seeds", "0,1", "--max-calls", "50",
        "--target", "smollm2", "--optimizer-model", "smollm2", "--dry-run", "--out", tmp_path / "cmp",
    )  # fmt: skip
    assert code == 0, out
    assert "dry run: comparison" in out and "total:" in out and not (tmp_path / "cmp").exists()


def test_bad_price_flags_are_one_line_errors(tmp_path, cli):
    task = review_task_spec(tmp_path, "{train: 4, dev: 6, test: 10}")
    code, err = cli("optimize", "--task", task, "--method", "fixed", "--price", "smollm2", "--dry-run")
    assert code == 2 and "--price expects MODEL=IN/OUT" in one_line(err)
    code, err = cli("optimize", "--task", task, "--method", "fixed", "--max-usd", "1", "--target", "smollm2",
                    "--run-dir", tmp_path / "r")  # fmt: skip
    assert code == 2 and "--max-usd needs a price" in one_line(err)
    code, err = cli("optimize", "--task", task, "--method", "fixed", "--prices", tmp_path / "none.yaml")
    assert code == 2 and "no config file" in one_line(err)


@pytest.mark.slow
def test_the_projection_of_a_real_model_run_matches_its_spend(tmp_path):
    """SmolLM2 on an instruction-induction task (generation: completion tokens are bounded, not
    known): calls and prompt tokens are exact, completion tokens within their bound."""
    needs_smollm2_tokenizer()
    spec = recipe.make_spec(
        "fixed", "default", {"instruction": "Write the first letter of the word."},
        task="ii/first_word_letter", target="smollm2", test_examples=20,
    )  # fmt: skip
    projection = project(spec)
    result = recipe.run(spec, tmp_path / "run", cache=OutputCache(tmp_path / "c.sqlite"))
    b = spent(result)
    selection = [projection.total(p) for p in ("validation", "test")]
    assert sum(p["calls"] for p in selection) == b["selection_calls"]
    assert sum(p["prompt_tokens"] for p in selection) == b["selection_prompt_tokens"]
    assert 0 < b["selection_completion_tokens"] <= sum(p["completion_tokens"] for p in selection)
    (tmp_path / "figures.json").write_text(json.dumps({"projection": projection.to_json(), "budget": b}))
