"""Components: the parts methods are built from, belonging to no method.

    policy.py         the prompt-LM q(z | M): LoRA on a trainable model, sampling and log-probs
    meta_prompt.py    the prompt-LM's meta-prompt M (demonstrations, references) and its wordings
    prompt_lm.py      the prompt-LM methods' base class, config fields and draw -> charge -> score round
    optimizer_llm.py  the LLM-optimiser methods' base class and config fields
    proposals.py      the optimiser-LLM request -> parse -> retry loop, with stable sample ids
    parsing.py        reading a prompt out of a <START> ... <END> reply
    induction.py      instruction induction and variation requests
    bandits.py        choosing the best few prompts under a fixed number of pulls (UCB, successive rejects)

The rule: methods import components, never each other; components import no method. A part that a
second method needs moves here (a new module, or the module of its kind above) instead of being
imported from the first method.
"""
