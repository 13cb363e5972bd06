"""Every method's behaviour, pinned: a short fixed-seed run of each digests to the value it had before
the method layer was reshaped (tests/fingerprint.py says what is digested and how to print the digests).

A digest that changes means a method now asks, scores, logs or charges something differently. If that
is intended, rerun `scripts/method_fingerprint.py --out DIR` before and after, diff the records, and
update the digest here in the same commit that explains the change.
"""

from __future__ import annotations

import pytest

from tests.fingerprint import CASES, fingerprints

PINNED = {
    "fixed": "25d3196d7b9552a4",
    "sampling": "98c8858c95b93f1c",
    "gflowpo": "1368b652210a4604",
    "ppo": "eab172749c6b2821",
    "gpo": "789a8ed1be1eb4e7",
    "gpo-reflect": "a6990b50bd6ce469",
    "ape-halving": "ef1fdc56e94f4fd4",
    "ape-ucb": "55cda6cbc461ac0e",
    "opro": "bde8ee0909b5f605",
    "protegi": "c808d856361b9fd0",
    "protegi-sr": "1a2586e454e36c06",
    "evoprompt-ga": "e64de28292d49e8b",
    "evoprompt-de": "0725870f63206faa",
}


def test_every_registered_method_has_a_case():
    from promptflux.optimizers.registry import METHODS

    assert {method for method, _ in CASES.values()} == set(METHODS)
    assert set(PINNED) == set(CASES)


@pytest.mark.parametrize("case", list(CASES))
def test_method_behaviour_is_unchanged(case):
    assert fingerprints([case]) == {case: PINNED[case]}
