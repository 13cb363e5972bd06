"""Prompt-optimisation methods, and the components they are built from.

    base.py        the method contract: `SearchMethod` (scored table, candidates, baselines, checkpoint
                   state, seeding, events) and the `StepMethod` protocol the run driver steps
    context.py     what a method is built from: the run's models, task, budget, ledger and event log
    presets.py     `PresetConfig`: a method's frozen, validated config with named presets
    registry.py    the registered methods
    components/    parts shared by methods (prompt-LM policy, meta-prompts, the draw round, the
                   optimiser-LLM proposal loop, bandits); a method imports components, never another method
    one module or package per method, whose docstring names its paper:
                   gflowpo/, gpo/, ppo.py, sampling.py, ape.py, opro.py, protegi.py, evoprompt.py, fixed.py

A new method is one module (a config and a `SearchMethod` subclass with its `step`; fixed.py is the
smallest) plus one line in registry.py.
"""
