"""Every command and every relative link in README.md and docs/*.md still works: no stale command survives.

Commands come from ```console / ```sh / ```bash blocks and from inline code that starts like a command
(`make ...`, `python -m ...`, `python manage.py ...`, `manage.py ...`, `.venv/bin/...`). Nothing is run but cheap
``--help`` calls: a make target must exist in the Makefile, a management command must exist and parse its
arguments, a module must be importable, and the files a command names must exist.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_BLOCKS = {"console", "sh", "bash", "shell"}
COMMAND_START = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S* )*(?:make\b|python3? |manage\.py |\.venv/bin/)")
# Words the docs write in place of a value, and a value that parses wherever an argument is expected.
PLACEHOLDERS = {"N": "1", "SECONDS": "300", "DAYS": "7"}
# Created by `make install` / `make sam` / the suite, so absent from a fresh clone.
CREATED_PATHS = (".venv/", ".tools/", "test-output/", ".aws-sam/")


@dataclass(frozen=True)
class Command:
    page: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.text}"


def _relative(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _split_fences(page: Path) -> tuple[list[tuple[int, str, str]], list[tuple[int, str]]]:
    """The page's lines inside fenced blocks (line number, block language, text) and outside them."""
    inside: list[tuple[int, str, str]] = []
    outside: list[tuple[int, str]] = []
    language: str | None = None
    for number, line in enumerate(page.read_text().splitlines(), start=1):
        fence = re.match(r"^\s*```(\w*)", line)
        if fence:
            language = None if language is not None else fence.group(1).lower()
            continue
        if language is None:
            outside.append((number, line))
        else:
            inside.append((number, language, line))
    return inside, outside


def _commands() -> list[Command]:
    found: list[Command] = []
    for page in PAGES:
        inside, outside = _split_fences(page)
        pending: tuple[int, str] | None = None  # a command continued on the next line (a trailing backslash)
        for number, language, line in inside:
            if language not in SHELL_BLOCKS:
                continue
            line = line.strip().removeprefix("$ ")
            if pending is not None:
                number, line = pending[0], f"{pending[1]} {line}"
                pending = None
            if line.endswith("\\"):
                pending = (number, line[:-1].rstrip())
                continue
            if line and not line.startswith("#"):
                found.extend(Command(_relative(page), number, part) for part in _split_commands(line))
        for number, line in outside:
            for span in re.findall(r"`([^`]+)`", line):
                if COMMAND_START.match(span.strip()):
                    found.append(Command(_relative(page), number, span.strip()))
            # A table row that starts with a camelCase name is a management command and its arguments.
            row = re.match(r"^\| `([a-z]+[A-Z]\w*(?: [^`]*)?)` \|", line)
            if row:
                found.append(Command(_relative(page), number, f"manage.py {row.group(1)}"))
    return found


def _split_commands(line: str) -> list[str]:
    """The commands of one shell line, split at ``;`` and ``&&`` outside quotes (``$(...)`` stays in its word)."""
    lexer = shlex.shlex(line, posix=False, punctuation_chars=";&")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in {";", "&&"}:
            commands.append([])
        else:
            commands[-1].append(token)
    return [" ".join(words) for words in commands if words]


COMMANDS = _commands()


def _words(command: Command) -> list[str]:
    """The command's words: comments dropped, optional [groups] taken, placeholders given a value, env skipped."""
    text = re.sub(r"<[^<>]*>", "VALUE", command.text)  # <the identifier printed above>
    if not text.startswith("aws "):  # the AWS CLI's --query expressions hold brackets of their own
        text = text.replace("[", " ").replace("]", " ")
    words = [PLACEHOLDERS.get(word, word) for word in shlex.split(text, comments=True)]
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        words.pop(0)
    assert words, f"{command}: no command"
    return words


@functools.cache
def _makefile() -> str:
    return (ROOT / "Makefile").read_text()


@functools.cache
def _make_targets() -> frozenset[str]:
    targets = set()
    for line in _makefile().splitlines():
        rule = re.match(r"^([A-Za-z0-9_. -]+?)\s*:(?!=)", line)
        if rule:
            targets.update(rule.group(1).split())
        phony = re.match(r"^\.PHONY\s*:(.*)", line)
        if phony:
            targets.update(word for word in phony.group(1).replace("\\", " ").split() if "$" not in word)
    return frozenset(targets - {".PHONY"})


def _make_variables() -> set[str]:
    return set(re.findall(r"\$\(([A-Z_][A-Z0-9_]*)\)", _makefile())) | set(
        re.findall(r"^([A-Z_][A-Z0-9_]*)\s*[?:]?=", _makefile(), re.MULTILINE)
    )


def _check_make(command: Command, arguments: list[str]) -> None:
    for argument in arguments:
        if "=" in argument:
            variable = argument.split("=", 1)[0]
            assert variable in _make_variables(), f"{command}: the Makefile reads no variable {variable}"
        else:
            assert argument in _make_targets(), f"{command}: no make target {argument!r}"


def _check_paths(command: Command, arguments: list[str]) -> None:
    for argument in arguments:
        if argument.startswith("-") or "=" in argument or "://" in argument:
            continue
        path = argument.split("::", 1)[0]
        if ("/" in path or path.endswith((".py", ".json", ".yaml", ".toml", ".md"))) and not path.startswith(
            CREATED_PATHS
        ):
            assert (ROOT / path).exists(), f"{command}: {path} does not exist"


def _check_management_command(command: Command, arguments: list[str]) -> None:
    assert arguments, f"{command}: manage.py without a command"
    name, options = arguments[0], arguments[1:]
    commands = get_commands()
    assert name in commands, f"{command}: no management command {name!r}"
    parser = load_command_class(commands[name], name).create_parser("manage.py", name)
    try:
        parser.parse_args(options)
    except CommandError as exc:
        pytest.fail(f"{command}: {exc}")


@functools.cache
def _help_works(module_or_script: str) -> bool:
    program = [module_or_script] if module_or_script.endswith(".py") else ["-m", module_or_script]
    done = subprocess.run([sys.executable, *program, "--help"], cwd=ROOT, capture_output=True, timeout=60, check=False)
    return done.returncode == 0


def _check_python(command: Command, arguments: list[str]) -> None:
    if arguments[:1] == ["manage.py"]:
        _check_management_command(command, arguments[1:])
        return
    if arguments and arguments[0].endswith(".py"):
        script = arguments[0]
        assert (ROOT / script).is_file(), f"{command}: {script} does not exist"
        assert _help_works(script), f"{command}: python {script} --help fails"
        _check_paths(command, arguments[1:])
        return
    if arguments[:1] == ["-c"] and len(arguments) == 2:
        compile(arguments[1], "<python -c>", "exec")
        return
    assert arguments[:1] == ["-m"], f"{command}: expected python -m, -c, a script or manage.py"
    assert len(arguments) > 1, f"{command}: python -m without a module"
    module, options = arguments[1], arguments[2:]
    assert importlib.util.find_spec(module) is not None, f"{command}: no module {module}"
    if module == "pytest":
        _check_paths(command, options)
        return
    assert _help_works(module), f"{command}: python -m {module} --help fails"
    # A package runs its __main__, where the parser of `python -m infra.local` lives.
    main = f"{module}.__main__" if importlib.util.find_spec(module).submodule_search_locations else module
    parse_args = getattr(importlib.import_module(main), "parse_args", None)
    if parse_args is not None:
        try:
            parse_args(options)
        except SystemExit:
            pytest.fail(f"{command}: python -m {module} refuses these arguments")
    _check_paths(command, options)


# The AWS SAM CLI's commands (sam --help); the AWS CLI is checked against botocore's service models instead.
SAM_COMMANDS = frozenset(
    {"build", "delete", "deploy", "init", "list", "local", "logs", "package", "pipeline", "remote", "sync", "traces"}
    | {"validate", "publish"}
)
# Options every AWS CLI command takes, beside its operation's parameters.
AWS_CLI_GLOBAL_OPTIONS = frozenset({"query", "output", "region", "profile", "no-cli-pager", "no-paginate", "debug"})


def _check_aws_cli(command: Command, arguments: list[str]) -> None:
    """``aws SERVICE OPERATION --param value ...``: the service, the operation and each option exist in botocore."""
    import botocore.session
    from botocore import xform_name
    from botocore.exceptions import UnknownServiceError

    assert len(arguments) >= 2, f"{command}: aws SERVICE OPERATION"
    service, operation, options = arguments[0], arguments[1], arguments[2:]
    try:
        model = botocore.session.get_session().get_service_model(service)
    except UnknownServiceError:
        pytest.fail(f"{command}: the AWS CLI has no service {service!r}")
    operations = {xform_name(name, "-"): name for name in model.operation_names}
    assert operation in operations, f"{command}: aws {service} has no operation {operation!r}"
    members = model.operation_model(operations[operation]).input_shape
    names = {xform_name(name, "-") for name in (members.members if members else {})}
    for option in (word[2:] for word in options if word.startswith("--")):
        # A boolean parameter also has its --no-... form; --force-delete-without-recovery is a parameter as written.
        known = option in names or option.removeprefix("no-") in names or option in AWS_CLI_GLOBAL_OPTIONS
        assert known, f"{command}: aws {service} {operation} takes no --{option}"


def _check(command: Command) -> None:
    # A command substitution is a command of its own: checked, then read as one value.
    for inner in re.findall(r"\$\(([^()]*)\)", command.text):
        if not inner.startswith(("python", "python3")):  # python3 -c '...' is a program, not a command to look up
            _check(Command(command.page, command.line, inner))
    command = Command(command.page, command.line, re.sub(r"\$\([^()]*\)", "VALUE", command.text))
    words = _words(command)
    program, arguments = words[0], words[1:]
    if program.startswith(".venv/bin/"):
        tool = program.removeprefix(".venv/bin/")
        assert (Path(sys.executable).parent / tool).exists(), f"{command}: {tool} is not installed in the venv"
        program = "python" if tool.startswith("python") else tool
    if program == "make":
        _check_make(command, arguments)
    elif program in {"python", "python3"}:
        _check_python(command, arguments)
    elif program == "manage.py":
        _check_management_command(command, arguments)
    elif program == "ruff":
        _check_paths(command, arguments)
    elif program == "aws":
        _check_aws_cli(command, arguments)
    elif program in {"sam", ".tools/sam/bin/sam"}:
        assert arguments, f"{command}: sam without a command"
        assert arguments[0] in SAM_COMMANDS, f"{command}: SAM CLI has no command {arguments[0]!r}"
    elif program == "export":
        assert all(re.match(r"^[A-Z_][A-Z0-9_]*=", word) for word in arguments), f"{command}: export NAME=value"
    else:
        pytest.fail(f"{command}: unknown program {program!r}")


def test_the_docs_name_commands():
    """The extraction itself works: the two commands of the README are among those found."""
    readme = {command.text for command in COMMANDS if command.page == "README.md"}
    assert {"make local", "make test"} <= readme
    assert len(COMMANDS) > 30


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_every_command_in_the_docs_is_current(command):
    _check(command)


# -- checking the checker: each kind of stale command is caught -----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "make no-such-target",
        "make deploy NO_SUCH_VARIABLE=1",
        "python manage.py noSuchCommand",
        "python manage.py cleanupWebSocketTokens --no-such-option 5",
        "python manage.py createApiGateway --pk not-a-number",
        "python -m no_such_module",
        "python -m infra.local --no-such-option",
        ".venv/bin/python -m pytest tests/test_no_such_file.py",
        ".venv/bin/python tests/bench/no_such_bench.py",
        ".venv/bin/no-such-tool",
        "sudo rm -rf /",
        "aws no-such-service list-things",
        "aws ssm no-such-operation --name x",
        "aws ssm put-parameter --name x --no-such-option 1",
        ".tools/sam/bin/sam no-such-command",
        "aws apigateway update-account --patch-operations value=$(aws iam get-role --no-such-option x)",
    ],
)
def test_a_stale_command_fails(text):
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        _check(Command("example.md", 1, text))


def test_commands_with_placeholders_and_options_pass():
    for text in [
        "make logs ENV=staging [FUNCTION=WebSocketFunction]",
        "DJANGO_DEBUG=1 .venv/bin/python manage.py createsuperuser",
        "python manage.py deleteApiGateway --pk N [--noinput]",
        "python -m infra.local --http-port 8000 --ws-port 8001",
        "aws ssm put-parameter --name /x --type SecureString --value \"$(python3 -c 'import a; print(1)')\"",
        "aws rds describe-db-cluster-snapshots --snapshot-type manual --query \"A[?B=='c'].D\" --output text",
        "make migrate ENV=<the samconfig environment>",
        ".tools/sam/bin/sam delete --config-env staging --no-prompts",
    ]:
        _check(Command("example.md", 1, text))


# -- links ---------------------------------------------------------------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@functools.cache
def _anchors(page: Path) -> frozenset[str]:
    _, outside = _split_fences(page)
    seen: dict[str, int] = {}
    anchors = set()
    for _, line in outside:
        heading = re.match(r"^#{1,6}\s+(.*)", line)
        if heading:
            slug = _slug(heading.group(1))
            anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return frozenset(anchors)


def _links() -> list[tuple[str, int, str]]:
    found = []
    for page in PAGES:
        _, outside = _split_fences(page)
        for number, line in outside:
            line = re.sub(r"`[^`]*`", "", line)
            for target in re.findall(r"\]\(([^)\s]+)\)", line):
                if not re.match(r"^[a-z]+:", target):
                    found.append((_relative(page), number, target))
    return found


LINKS = _links()


@pytest.mark.parametrize(("page", "line", "target"), LINKS, ids=[f"{p}:{n}->{t}" for p, n, t in LINKS])
def test_every_relative_link_resolves(page, line, target):
    path, _, anchor = target.partition("#")
    source = ROOT / page
    linked = (source.parent / path).resolve() if path else source
    assert linked.exists(), f"{page}:{line}: {path} does not exist"
    if anchor:
        assert linked.suffix == ".md", f"{page}:{line}: an anchor into {path}, which is not a page"
        assert anchor in _anchors(linked), f"{page}:{line}: {linked.name} has no heading #{anchor}"


def test_the_slugs_match_githubs():
    assert _slug("The fan-out benchmark: `tests/bench/fanout.py`") == "the-fan-out-benchmark-testsbenchfanoutpy"
    assert _slug("The client's address") == "the-clients-address"
    assert _slug("`GoneException` (410) when sending") == "goneexception-410-when-sending"
