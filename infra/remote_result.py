"""Read what ``sam remote invoke`` printed for the operator function; show its output and exit with its exit code.

``make deploy`` / ``make migrate ENV=...`` / ``make createsuperuser`` pipe the answer through this so that a failed
``migrate`` on the deployed stack fails the make target too (``sam remote invoke`` itself succeeds either way).
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO


def answer_in(text: str) -> dict[str, Any] | None:
    """The last ``{"exit_code": ..., "output": ...}`` object in the text, if any."""
    decoder = json.JSONDecoder()
    found = None
    for start in (index for index, char in enumerate(text) if char == "{"):
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("exit_code"), int):
            found = value
    return found


def main(stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    text = stdin.read()
    answer = answer_in(text)
    if answer is None:
        stdout.write(text)
        stdout.write("\nNo answer from the operator function (see above).\n")
        return 1
    stdout.write(str(answer.get("output", "")))
    if not str(answer.get("output", "")).endswith("\n"):
        stdout.write("\n")
    return answer["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
