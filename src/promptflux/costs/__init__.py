"""Knowing the cost before running (`--dry-run`) and bounding it (`--max-usd`).

tokens.py      prompt tokens of a request without loading a model (its tokenizer, else chars / 4)
prices.py      per-model prices, dollars per million tokens (`--price`, `--prices FILE.yaml`)
shapes.py      how many prompts each method scores in its search, from its config
projection.py  calls and tokens per phase (search, validation, test) and model, and dollars
budget.py      PricedBudget: the dollar limit on the search, charged from the recorded token counts
"""

from promptflux.costs.budget import PricedBudget, make_budget
from promptflux.costs.prices import gather_prices, parse_price_flags, read_prices
from promptflux.costs.projection import Projection, project

__all__ = [
    "PricedBudget",
    "Projection",
    "gather_prices",
    "make_budget",
    "parse_price_flags",
    "project",
    "read_prices",
]
