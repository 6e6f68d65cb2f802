"""The size of what ``sam build`` made: each function's code, the shared layer, and the two together (what one
function unpacks in Lambda, whose limit is 250 MB), with the headroom left under ``--limit-mb``, as JSON; exits 1
when that total is over the limit.

    python -m infra.package_size .aws-sam/build --limit-mb 40
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

LAYER = "DependenciesLayer"
MB = 1024 * 1024


def tree_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file() and not path.is_symlink())


def measure(build_dir: Path) -> dict[str, float]:
    """Resource name -> unpacked megabytes, plus ``largest_function_with_layer``."""
    sizes = {entry.name: tree_bytes(entry) / MB for entry in sorted(build_dir.iterdir()) if entry.is_dir()}
    if LAYER not in sizes:
        raise FileNotFoundError(f"No {LAYER} in {build_dir}: run sam build first.")
    functions = [size for name, size in sizes.items() if name != LAYER]
    sizes["largest_function_with_layer"] = sizes[LAYER] + max(functions, default=0.0)
    return {name: round(size, 2) for name, size in sizes.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build_dir", type=Path)
    parser.add_argument("--limit-mb", type=float, required=True)
    args = parser.parse_args(argv)
    try:
        sizes = measure(args.build_dir)
    except (FileNotFoundError, NotADirectoryError) as exc:
        print(exc, file=sys.stderr)
        return 2
    within = sizes["largest_function_with_layer"] <= args.limit_mb
    # Headroom: what one more dependency may weigh before the build fails (raise it with --limit-mb).
    headroom = round(args.limit_mb - sizes["largest_function_with_layer"], 2)
    report = {"unzipped_mb": sizes, "limit_mb": args.limit_mb, "headroom_mb": headroom, "within_limit": within}
    print(json.dumps(report, indent=2))
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
