"""edit_limit: the none / fixed / linear / cosine formulas, warm-up ramp, rounding and bounds."""

from __future__ import annotations

import math

import pytest

from promptflux.optimizers.gpo import GPOConfig, edit_limit


def limits(total: int, **overrides) -> list[int | None]:
    config = GPOConfig(**overrides)
    return [edit_limit(t, total, config) for t in range(total)]


def test_cosine_default_over_the_18_bbh_steps():
    values = limits(18)
    assert (values[0], values[9], values[17]) == (50, 30, 10)
    for t, value in enumerate(values):
        assert value == math.floor(10 + 40 * 0.5 * (1 + math.cos(math.pi * t / 18)) + 0.5)
    assert values == sorted(values, reverse=True)


def test_linear_decay_follows_the_formula():
    values = limits(18, schedule="linear")
    assert values[0] == 50 and values[9] == 30 and values[17] == 12  # 10 + 40 / 18 = 12.2
    assert all(v == math.floor(10 + 40 * (1 - t / 18) + 0.5) for t, v in enumerate(values))
    assert values == sorted(values, reverse=True)


def test_none_and_fixed():
    assert limits(5, schedule="none") == [None] * 5
    assert limits(5, schedule="fixed", limit_init=17) == [17] * 5


def test_explicit_final_limit():
    values = limits(10, limit_init=30, limit_final=30)
    assert values == [30] * 10
    assert limits(4, limit_init=20, limit_final=4, schedule="linear") == [20, 16, 12, 8]


def test_warmup_ramps_up_then_decays_over_the_rest():
    values = limits(8, warmup_steps=4, schedule="linear")
    assert values[:4] == [10, 20, 30, 40]  # final + 40 * t / 4
    assert values[4:] == [50, 40, 30, 20]  # linear over T' = 4 with t' = t - 4
    cosine = limits(8, warmup_steps=4)
    assert cosine[:5] == [10, 20, 30, 40, 50]
    assert cosine[4:] == sorted(cosine[4:], reverse=True)
    assert limits(4, warmup_steps=2, schedule="fixed") == [10, 30, 50, 50]


def test_never_below_one_and_rounds_half_up():
    assert limits(3, limit_init=1, limit_final=1) == [1, 1, 1]
    # linear, init 3, final 1, T 4: 3, 2.5, 2, 1.5 -> half up
    assert limits(4, limit_init=3, limit_final=1, schedule="linear") == [3, 3, 2, 2]


def test_bad_steps_are_rejected():
    config = GPOConfig()
    with pytest.raises(ValueError, match="outside"):
        edit_limit(18, 18, config)
    with pytest.raises(ValueError, match="at least 1"):
        edit_limit(0, 0, config)
    with pytest.raises(ValueError, match="warmup_steps"):
        edit_limit(0, 2, GPOConfig(warmup_steps=2))
