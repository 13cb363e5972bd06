"""Language-model backends behind one interface; see `registry.py` for the spec strings."""

from promptflux.models.base import LanguageModel
from promptflux.models.registry import ModelOptions, describe_models, load_model

__all__ = ["LanguageModel", "ModelOptions", "describe_models", "load_model"]
