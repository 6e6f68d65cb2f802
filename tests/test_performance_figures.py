"""Measured figures live in the benches and docs/performance.md, where they are kept current, not in the code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A cost quoted as a measurement: "about 55 us", "~0.7 ms of CPU", "took seconds of CPU", "3x faster".
MEASURED = re.compile(
    r"(?:about|~)\s?\d[\d.,]*\s?(?:µs|us|ms)\b|\d[\d.,]*\s?(?:µs|us|ms) of CPU|took \w+ of CPU|\d[\d.]*\s?x faster",
    re.IGNORECASE,
)


def test_no_module_quotes_a_measured_figure() -> None:
    quoted = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in ("websockets_app", "infra", "project")
        for path in sorted((ROOT / package).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if MEASURED.search(line)
    ]
    assert not quoted, "Point to tests/bench/ or docs/performance.md instead:\n" + "\n".join(quoted)
