"""Operator commands inside Lambda: ``{"manage": "migrate --noinput"}`` runs an allow-listed management command.

The command line (at most 4 KB) is split with shlex and run with ``call_command``: no shell, no exec. It runs only
when an entry of the ``LAMBDA_MANAGE_COMMANDS`` setting allows the command *with these arguments*; the answer is
``{"exit_code": int, "output": str}`` with stdout and stderr.

An allow-list entry is the command's name followed by the arguments it may take:

- ``--flag`` or ``literal``: must be given (``migrate <name> zero`` needs exactly ``zero`` there);
- ``[--flag]``, ``[--option <int>]``, ``[<name>]``: may be given, at most once;
- ``<int>`` a non-negative integer, ``<name>`` a label or migration name (letters, digits, ``_``).

Options may come in any order (``--option=value`` is read as ``--option value``); positional arguments come in
the entry's order. Nothing else is accepted, argparse's abbreviations (``--no`` for ``--noinput``) included, so
a plain name (``"clearsessions"``) allows the command without arguments only. What runs is the checked argument
list, never the raw line.
"""

from __future__ import annotations

import io
import logging
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import CommandError

logger = logging.getLogger(__name__)

USAGE_ERROR = 2
MAX_COMMAND_LINE_BYTES = 4096  # shlex's cost grows faster than the line: a long one would hold the CPU

PLACEHOLDERS: dict[str, re.Pattern[str]] = {
    "<int>": re.compile(r"[0-9]{1,9}\Z"),
    "<name>": re.compile(r"[A-Za-z0-9_]{1,100}\Z"),
}
_ENTRY_TOKEN = re.compile(r"\[[^\[\]]*\]|[^\s\[\]]+|[\[\]]")
_COMMAND_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")


class InvalidAllowListEntry(ValueError):
    """An entry of the allow-list that cannot be read; the whole list is then refused."""


@dataclass(frozen=True)
class Argument:
    """One argument an entry allows: an option (``--x``, maybe with a value) or a positional value."""

    option: str | None  # "--noinput"; None for a positional argument
    value: str | None  # a literal or a placeholder; None for a flag
    required: bool

    def accepts(self, given: str) -> bool:
        if self.value is None:
            return False
        placeholder = PLACEHOLDERS.get(self.value)
        return bool(placeholder.match(given)) if placeholder else given == self.value


@dataclass(frozen=True)
class AllowedCommand:
    """A parsed allow-list entry."""

    entry: str
    name: str
    options: dict[str, Argument]
    positionals: tuple[Argument, ...]

    @classmethod
    def parse(cls, entry: Any) -> AllowedCommand:
        if not isinstance(entry, str):
            raise InvalidAllowListEntry(f"Entry {entry!r} is not a string.")
        tokens = _ENTRY_TOKEN.findall(entry)
        if not tokens or not _COMMAND_NAME.match(tokens[0]):
            raise InvalidAllowListEntry(f"Entry {entry!r} does not start with a command name.")
        options: dict[str, Argument] = {}
        positionals: list[Argument] = []
        rest = tokens[1:]
        index = 0
        while index < len(rest):
            token = rest[index]
            index += 1
            if token in {"[", "]"}:
                raise InvalidAllowListEntry(f"Entry {entry!r} has unbalanced brackets.")
            if token.startswith("["):
                parts, required = token[1:-1].split(), False
                if not parts or len(parts) > (2 if parts[0].startswith("-") else 1):
                    raise InvalidAllowListEntry(
                        f"Entry {entry!r}: each [...] holds one option (with its value, if any) or one value."
                    )
            else:
                parts, required = [token], True
                if token.startswith("-") and index < len(rest) and rest[index] in PLACEHOLDERS:
                    parts.append(rest[index])  # "--max-age <int>": the option's value
                    index += 1
            if parts[0].startswith("-"):
                _add_option(entry, options, parts, required)
            else:
                positionals.append(_positional(entry, parts[0], required))
        return cls(entry, tokens[0], options, tuple(positionals))

    def refusal(self, args: list[str]) -> str | None:
        """Why ``args`` do not fit this entry, or None when they do."""
        used: set[str] = set()
        position = 0
        remaining = iter(args)
        for given in remaining:
            if given.startswith("-"):
                option = self.options.get(given)
                if option is None:
                    return f"{given} is not an allowed option"
                if given in used:
                    return f"{given} is given twice"
                used.add(given)
                if option.value is not None:
                    value = next(remaining, None)
                    if value is None or not option.accepts(value):
                        return f"{given} needs a value of the form {option.value}"
            else:
                if position >= len(self.positionals) or not self.positionals[position].accepts(given):
                    return f"the argument {given!r} is not allowed there"
                position += 1
        missing = [name for name, option in self.options.items() if option.required and name not in used]
        missing += [argument.value or "" for argument in self.positionals[position:] if argument.required]
        if missing:
            return f"missing {', '.join(missing)}"
        return None


def _positional(entry: str, value: str, required: bool) -> Argument:
    if value.startswith("<") and value not in PLACEHOLDERS:
        raise InvalidAllowListEntry(f"Entry {entry!r} uses an unknown placeholder {value}; known: int, name.")
    return Argument(option=None, value=value, required=required)


def _add_option(entry: str, options: dict[str, Argument], parts: list[str], required: bool) -> None:
    name, value = parts[0], (parts[1] if len(parts) > 1 else None)
    if value is not None and value not in PLACEHOLDERS:
        raise InvalidAllowListEntry(f"Entry {entry!r} uses an unknown placeholder {value}; known: int, name.")
    if name in options:
        raise InvalidAllowListEntry(f"Entry {entry!r} names {name} twice.")
    options[name] = Argument(option=name, value=value, required=required)


def parse_allow_list(entries: Any) -> list[AllowedCommand]:
    """The parsed entries; InvalidAllowListEntry for the first one that cannot be read."""
    if isinstance(entries, str) or not isinstance(entries, list | tuple | set | frozenset):
        raise InvalidAllowListEntry("LAMBDA_MANAGE_COMMANDS must be a list of command patterns.")
    return [AllowedCommand.parse(entry) for entry in entries]


def command_line_of(event: dict[str, Any]) -> Any:
    """The command line of a ``{"manage": ...}`` or serverless-wsgi ``{"_serverless-wsgi": {...}}`` event."""
    if "manage" in event:
        return event["manage"]
    wrapped = event.get("_serverless-wsgi")
    if isinstance(wrapped, dict) and wrapped.get("command") == "manage":
        return wrapped.get("data")
    return None


def run_command_line(command_line: Any, allowed: Iterable[str] | None = None) -> dict[str, Any]:
    """Run ``command_line`` if an entry of ``allowed`` (default: the setting) allows it; never raises."""
    if not isinstance(command_line, str):
        return _result(USAGE_ERROR, 'Expected a command line string, e.g. {"manage": "migrate --noinput"}.')
    if (
        len(command_line) > MAX_COMMAND_LINE_BYTES
        or len(command_line.encode(errors="replace")) > MAX_COMMAND_LINE_BYTES
    ):
        return _result(USAGE_ERROR, f"The command line is longer than {MAX_COMMAND_LINE_BYTES} bytes.")
    try:
        entries = parse_allow_list(settings.LAMBDA_MANAGE_COMMANDS if allowed is None else list(allowed))
    except (InvalidAllowListEntry, TypeError) as exc:
        return _result(USAGE_ERROR, f"The LAMBDA_MANAGE_COMMANDS allow-list is invalid: {exc}")
    try:
        argv = shlex.split(command_line)
    except ValueError as exc:
        return _result(USAGE_ERROR, f"Cannot parse the command line: {exc}.")
    if not argv:
        return _result(USAGE_ERROR, "The command line is empty.")
    name, args = argv[0], _split_option_values(argv[1:])
    for_command = [entry for entry in entries if entry.name == name]
    if not for_command:
        names = ", ".join(sorted({entry.name for entry in entries})) or "none"
        return _result(USAGE_ERROR, f"{name!r} is not allowed here. Allowed: {names}.")
    refusals = [entry.refusal(args) for entry in for_command]
    if all(refusals):
        shown = " | ".join(entry.entry for entry in for_command)
        return _result(
            USAGE_ERROR, f"{shlex.join(argv)!r} is not allowed here: {refusals[0]}. Allowed for {name}: {shown}."
        )
    if name not in get_commands():
        return _result(USAGE_ERROR, f"Unknown command {name!r}.")
    return _run(name, args)


def _split_option_values(args: list[str]) -> list[str]:
    # --option=value -> --option value: what the allow-list checks is what call_command parses.
    split: list[str] = []
    for arg in args:
        if arg.startswith("--") and "=" in arg:
            split.extend(arg.split("=", 1))
        else:
            split.append(arg)
    return split


def _run(name: str, args: list[str]) -> dict[str, Any]:
    stdout, stderr = io.StringIO(), io.StringIO()
    exit_code = 0
    try:
        call_command(name, *args, stdout=stdout, stderr=stderr)
    except CommandError as exc:
        exit_code = exc.returncode
        stderr.write(f"CommandError: {exc}\n")
    except SystemExit as exc:
        exit_code = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:
        logger.exception("Management command %s failed", name)
        exit_code = 1
        stderr.write(f"{type(exc).__name__}: {exc}\n")
    logger.info("Management command %s finished", name, extra={"command": name, "exit_code": exit_code})
    return _result(exit_code, stdout.getvalue() + stderr.getvalue())


def _result(exit_code: int, output: str) -> dict[str, Any]:
    return {"exit_code": exit_code, "output": output}
