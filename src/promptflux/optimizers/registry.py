"""The methods `promptflux optimize --method` knows. A new method = one module with a `METHOD` + one line."""

from __future__ import annotations

from promptflux.errors import ConfigError
from promptflux.optimizers.ape import METHOD as APE
from promptflux.optimizers.base import Method
from promptflux.optimizers.evoprompt import METHOD as EVOPROMPT
from promptflux.optimizers.fixed import METHOD as FIXED
from promptflux.optimizers.gflowpo.method import METHOD as GFLOWPO
from promptflux.optimizers.gpo.method import METHOD as GPO
from promptflux.optimizers.opro import METHOD as OPRO
from promptflux.optimizers.ppo import METHOD as PPO
from promptflux.optimizers.protegi import METHOD as PROTEGI
from promptflux.optimizers.sampling import METHOD as SAMPLING

METHODS: dict[str, Method] = {
    m.name: m for m in (GFLOWPO, GPO, APE, OPRO, PROTEGI, EVOPROMPT, SAMPLING, FIXED, PPO)
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; available: {', '.join(METHODS)}")
    return METHODS[name]
