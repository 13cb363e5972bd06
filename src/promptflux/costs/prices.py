"""Per-model prices in dollars per million tokens: `--price MODEL=IN/OUT` or `--prices FILE.yaml`.

    --price openai:gpt-4o-mini=0.15/0.60          (repeatable; a flag wins over the file)
    prices.yaml:  openai:gpt-4o-mini: 0.15/0.60    (or [0.15, 0.60], or {in: 0.15, out: 0.60})

A model without a price costs nothing (a local model); the dry run says which models are unpriced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptflux.errors import ConfigError

Price = tuple[float, float]  # (input, output) dollars per million tokens


def parse_price(value: Any, where: str) -> Price:
    """'0.15/0.60', [0.15, 0.60] or {in: 0.15, out: 0.60} -> (0.15, 0.60)."""
    if isinstance(value, str):
        parts = value.split("/")
    elif isinstance(value, dict) and set(value) == {"in", "out"}:
        parts = [value["in"], value["out"]]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        parts = []
    try:
        if len(parts) != 2:
            raise ValueError
        price = (float(parts[0]), float(parts[1]))
    except (TypeError, ValueError):
        raise ConfigError(
            f"{where}: a price is IN/OUT dollars per million tokens, e.g. 0.15/0.60; got {value!r}"
        ) from None
    if min(price) < 0:
        raise ConfigError(f"{where}: prices cannot be negative, got {value!r}")
    return price


def parse_price_flags(items: list[str]) -> dict[str, Price]:
    """`--price MODEL=IN/OUT` flags (the model spec may itself hold ':' or '@')."""
    out = {}
    for item in items:
        model, sep, value = item.rpartition("=")
        if not sep or not model.strip():
            raise ConfigError(f"--price expects MODEL=IN/OUT (dollars per million tokens), got {item!r}")
        out[model.strip()] = parse_price(value.strip(), f"--price {item}")
    return out


def read_prices(path: Path) -> dict[str, Price]:
    from promptflux.config_files import read_yaml_mapping

    data = read_yaml_mapping(path, "`openai:gpt-4o-mini: 0.15/0.60`")
    return {str(model): parse_price(value, f"{path}: {model}") for model, value in data.items()}


def gather_prices(flags: list[str] | None, file: Path | None) -> dict[str, Price]:
    """The file's prices, overridden by --price flags."""
    prices = read_prices(file) if file is not None else {}
    prices.update(parse_price_flags(flags or []))
    return prices


def usd(prompt_tokens: int, completion_tokens: int, price: Price | None) -> float:
    if price is None:
        return 0.0
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6
