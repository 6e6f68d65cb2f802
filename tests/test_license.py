"""The project is MIT-licensed, and nothing it ships to Lambda forbids that (only permissive licences, and psycopg's
LGPL, which lets any program import the library unchanged)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PERMISSIVE = ("MIT", "BSD", "Apache", "PSF", "Python Software Foundation", "ISC", "MIT-0")
LIBRARY_COPYLEFT = ("LGPL",)  # weak copyleft: using the unmodified library from MIT code is allowed


def runtime_distributions() -> set[str]:
    """requirements.txt (with the extras it names) and everything that pulls in, as installed here."""
    pending = [
        Requirement(line) for line in (ROOT / "requirements.txt").read_text().splitlines() if line.strip()[:1].isalnum()
    ]
    seen: set[str] = set()
    while pending:
        wanted = pending.pop()
        name = metadata.metadata(wanted.name)["Name"].lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)  # only what installs here: the extras asked for, this platform
            extras = wanted.extras or {""}
            if requirement.marker is None or any(requirement.marker.evaluate({"extra": e}) for e in extras):
                pending.append(requirement)
    return seen


def licence_of(name: str) -> str:
    """The licence expression or field, and the licence classifiers."""
    meta = metadata.metadata(name)
    classifiers = [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return " ".join([meta.get("License-Expression") or meta.get("License") or "", *classifiers])


def test_the_project_is_mit_licensed():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "MIT"


def test_no_runtime_dependency_forbids_the_mit_licence():
    names = runtime_distributions()
    assert {"django", "httptools", "psycopg", "psycopg-binary", "whitenoise"} <= names
    unclear = {
        name: licence_of(name)
        for name in sorted(names)
        if not any(term in licence_of(name) for term in PERMISSIVE + LIBRARY_COPYLEFT)
        or re.search(r"(?<![L])\bA?GPL", licence_of(name))
    }
    assert unclear == {}
