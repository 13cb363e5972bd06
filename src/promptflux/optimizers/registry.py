"""The methods `promptflux optimize --method` knows. A new method = one module (a config and a
`SearchMethod` subclass, see base.py and fixed.py) + one entry in the tuple below."""

from __future__ import annotations

from promptflux.errors import ConfigError
from promptflux.optimizers.ape import APEMethod
from promptflux.optimizers.base import Method
from promptflux.optimizers.evoprompt import EvoPromptMethod
from promptflux.optimizers.fixed import FixedMethod
from promptflux.optimizers.gflowpo.trainer import GFlowPOMethod
from promptflux.optimizers.gpo.method import GPOMethod
from promptflux.optimizers.opro import OPROMethod
from promptflux.optimizers.ppo import PPOMethod
from promptflux.optimizers.protegi import ProTeGiMethod
from promptflux.optimizers.sampling import SamplingMethod

METHODS: dict[str, Method] = {
    m.name: Method.of(m)
    for m in (
        GFlowPOMethod,
        GPOMethod,
        APEMethod,
        OPROMethod,
        ProTeGiMethod,
        EvoPromptMethod,
        SamplingMethod,
        FixedMethod,
        PPOMethod,
    )
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; available: {', '.join(METHODS)}")
    return METHODS[name]
