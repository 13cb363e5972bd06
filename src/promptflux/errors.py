"""User-facing errors: each carries a one-line message that says what to fix.

The CLI prints `error: <message>` and exits 2 for any PromptfluxError; anything else is a bug.
"""

from __future__ import annotations


class PromptfluxError(Exception):
    """Base class for errors caused by input, configuration or the environment (not by a bug)."""


class ConfigError(PromptfluxError):
    """A bad flag, config key, model spec or task name."""


class DataError(PromptfluxError):
    """A malformed data file; the message names the file and, where known, the row."""


class BackendError(PromptfluxError):
    """A model backend failed after its retries (unreachable server, bad responses, missing file)."""


class StorageError(PromptfluxError):
    """A file promptflux must write cannot be (full disk, read-only folder); what was written stays valid."""


class BudgetExhausted(PromptfluxError):
    """A hard budget limit was reached; work done before it is kept (cached and logged)."""
