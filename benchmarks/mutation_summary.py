"""Summarize a mutmut run (`make mutation`): counts by status, per mutated file, and every checked mutant that
was not killed with its one-line diff, as JSON on stdout (mutants left out of the sample count as "not checked").

    python benchmarks/mutation_summary.py [MUTANTS_DIR]     # default: mutants/
"""

import collections
import json
import subprocess
import sys
from pathlib import Path

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 36: "timeout",
          37: "caught by type check", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout",
          -11: "segfault", -9: "segfault", None: "not checked"}


def changed_lines(name: str, cwd: Path) -> list[str]:
    """The +/- lines of `mutmut show NAME` (the mutated line against the original)."""
    out = subprocess.run([str(Path(sys.executable).parent / "mutmut"), "show", name], cwd=cwd, capture_output=True,
                         text=True).stdout
    return [line for line in out.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def main() -> int:
    mutants = Path(sys.argv[1] if len(sys.argv) > 1 else "mutants")
    totals, by_file, unkilled = collections.Counter(), {}, []
    for meta in sorted(mutants.glob("**/*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        counts = collections.Counter(STATUS.get(c, "suspicious") for c in codes.values())
        by_file[str(meta.relative_to(mutants))[: -len(".meta")]] = dict(sorted(counts.items()))
        totals.update(counts)
        for name, code in sorted(codes.items()):
            if STATUS.get(code, "suspicious") not in ("killed", "not checked"):  # unsampled: counted only
                unkilled.append({"mutant": name, "status": STATUS.get(code, "suspicious"),
                                 "diff": changed_lines(name, mutants.parent)})
    print(json.dumps({"total": sum(totals.values()), "counts": dict(sorted(totals.items())), "by_file": by_file,
                      "not_killed": unkilled}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
