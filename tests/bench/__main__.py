"""``python -m tests.bench [NAME ...]`` (``make bench``): run the benchmarks one after another, each in its own
process, print each one's JSON, then one line for all of them: "N of M targets met". Exits 1 when any target is
missed (or a bench fails to report)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
BENCHES = ("coldstart", "events", "fanout", "local_gateway")


def main(argv: list[str] | None = None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or list(BENCHES)
    unknown = [name for name in names if name not in BENCHES]
    if unknown:
        print(f"Unknown bench {', '.join(unknown)}; benches: {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    met = total = 0
    failed = []
    for name in names:
        done = subprocess.run([sys.executable, str(BENCH_DIR / f"{name}.py")], capture_output=True, text=True)
        try:
            result = json.loads(done.stdout)
        except ValueError:
            failed.append(name)
            print(f"{name}: no result (exit {done.returncode})\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        print(json.dumps(result, indent=2), flush=True)
        targets = result.get("targets", [])
        met += sum(t["met"] for t in targets)
        total += len(targets)
    line = f"{met} of {total} targets met"
    print(line + (f" ({', '.join(failed)} did not report)" if failed else ""))
    return 0 if met == total and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
