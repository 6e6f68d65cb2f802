"""Who may import whom: the app imports nothing from infra/ or project/, and nothing outside infra/ imports infra.

infra/ is this project's wiring for AWS Lambda; the app and the project run without it. Settings may still name
infra's modules as strings (INSTALLED_APPS, a database ENGINE): that is wiring, read by Django, not an import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(source: str) -> Iterator[str]:
    """Every module an ``import`` or ``from ... import`` names, at any depth (functions and TYPE_CHECKING too)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value


def imports_of(package: str, *forbidden: str) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for module in imported_modules(path.read_text(encoding="utf-8")):
            if module.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(ROOT)}: {module}")
    return found


@pytest.mark.parametrize(
    "source",
    [
        "import infra.handlers",
        "from infra import events",
        "from infra.local.events import ConnectionFacts",
        "def f():\n    from infra import secrets\n",
        "if TYPE_CHECKING:\n    import infra\n",
        "importlib.import_module('infra.handlers')",
    ],
)
def test_every_way_of_importing_infra_is_seen(source):
    assert [module.split(".")[0] for module in imported_modules(source)] == ["infra"]


def test_a_string_that_names_infra_is_not_an_import():
    source = 'INSTALLED_APPS = ["infra"]\nDATABASES = {"default": {"ENGINE": "infra.postgresql"}}\n'
    assert list(imported_modules(source)) == []


def test_nothing_outside_infra_imports_infra():
    assert imports_of("websockets_app", "infra") == []
    assert imports_of("project", "infra") == []


def test_the_app_imports_nothing_from_the_project():
    assert imports_of("websockets_app", "project") == []


def test_the_app_and_its_testing_toolkit_import_nothing_from_this_projects_tests():
    # websockets_app.testing is for other projects' suites: it cannot lean on this one's fixtures or events.
    assert imports_of("websockets_app", "tests") == []


def test_only_the_local_gateway_uses_aiohttp():
    # aiohttp serves the laptop's WebSocket gateway (make local); the Lambda package does not ship it.
    lambda_side = [
        found for found in imports_of("infra", "aiohttp", "yarl") if not found.startswith(str(Path("infra") / "local"))
    ]
    assert lambda_side == []
    assert imports_of("websockets_app", "aiohttp", "yarl") == []
    assert imports_of("project", "aiohttp", "yarl") == []
    runtime = (ROOT / "requirements.txt").read_text().lower()
    assert "aiohttp" not in runtime
    assert "yarl" not in runtime
