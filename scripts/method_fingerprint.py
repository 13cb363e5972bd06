"""Print the behaviour fingerprint of every registered method (see tests/fingerprint.py).

    PYTHONPATH=src:. python scripts/method_fingerprint.py [--out DIR] [CASE ...]

Run it before and after a refactor: equal digests mean the same events, counters and chosen prompts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for `tests.*`

from tests.fingerprint import CASES, fingerprints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", default=list(CASES), help="cases to run (default: all)")
    parser.add_argument("--out", type=Path, help="write each case's normalised events and result here")
    args = parser.parse_args()
    print(json.dumps(fingerprints(args.cases, args.out), indent=1))


if __name__ == "__main__":
    main()
