"""The mutants `make mutation` checks: every mutant of the listed files, and a seeded random sample of the rest
(gankit/recipes/adversarial.py has ~575 mutants whose surviving ones each run ~100 recipe tests: all of them
take ~2.5 h on 2 cores). Prints mutant names for `mutmut run`.

    mutmut run $(python benchmarks/mutation_sample.py [MUTANTS_DIR] [--sample 150] [--seed 0] [--all])
"""

import argparse
import json
import random
from pathlib import Path

SAMPLED = ("gankit/recipes/adversarial.py",)


def names(mutants: Path) -> dict[str, list[str]]:
    """Mutant names by source file, from mutmut's generated mutants/ (run `mutmut run` once, or its
    generation step, to create them)."""
    out = {}
    for meta in sorted(mutants.glob("gankit/**/*.py.meta")):
        out[str(meta.relative_to(mutants))[: -len(".meta")]] = sorted(json.loads(meta.read_text())["exit_code_by_key"])
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mutants", nargs="?", default="mutants")
    parser.add_argument("--sample", type=int, default=150, help="mutants drawn from each sampled file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--all", action="store_true", help="every mutant of every file (no sampling)")
    args = parser.parse_args()
    chosen = []
    for source, keys in names(Path(args.mutants)).items():
        if args.all or source not in SAMPLED or len(keys) <= args.sample:
            chosen += keys
        else:
            chosen += sorted(random.Random(args.seed).sample(keys, args.sample))
    print("\n".join(chosen))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
