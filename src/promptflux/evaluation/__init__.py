"""Scoring prompts: the cached, budgeted evaluator and its parts."""

from promptflux.evaluation.budget import Budget, BudgetLimits
from promptflux.evaluation.cache import OutputCache
from promptflux.evaluation.calls import call_model
from promptflux.evaluation.evaluator import Evaluator, PromptScore
from promptflux.evaluation.racing import RaceResult, RaceSettings, race
from promptflux.evaluation.stats import mean_ci95

__all__ = [
    "Budget",
    "BudgetLimits",
    "Evaluator",
    "OutputCache",
    "PromptScore",
    "RaceResult",
    "RaceSettings",
    "call_model",
    "mean_ci95",
    "race",
]
