"""Scheduled cleanup: an EventBridge schedule names a job (``{"cleanup": "sessions"}``) and the job's management
command runs. A schedule without a job name (the bare "Scheduled Event") runs every job with its defaults.

A schedule may also set a job's options, e.g. ``{"cleanup": "tokens", "options": {"token_age": 600}}`` runs
``cleanupWebSocketTokens --token-age 600``; only the integer options listed for the job are accepted.

Every job is idempotent, so Lambda's retries are harmless; a job that fails raises, so the invocation is counted
as an error (and retried) instead of passing silently.
"""

from __future__ import annotations

import logging
import shlex
from typing import Any

from infra.commands import run_command_line

logger = logging.getLogger(__name__)

JOBS: dict[str, str] = {
    "sessions": "clearWebSocketSessions",
    "tokens": "cleanupWebSocketTokens",
    "stale": "markStaleWebSocketSessions",
    "history": "trimChannelHistory",
}
# The options a schedule may set for each job: name -> the command's ``--name`` with ``_`` as ``-``.
JOB_OPTIONS: dict[str, frozenset[str]] = {
    "sessions": frozenset(),
    "tokens": frozenset({"token_age", "rate_limit_age"}),
    "stale": frozenset({"max_age"}),
    "history": frozenset(),
}
ALL = "all"


class CleanupFailed(RuntimeError):
    """A cleanup job's command did not succeed."""


class BadCleanupEvent(ValueError):
    """The event names no known job or sets options the job does not take; nothing runs."""


def job_of(event: dict[str, Any]) -> Any:
    if "cleanup" in event:
        return event["cleanup"]
    detail = event.get("detail")
    if isinstance(detail, dict) and "cleanup" in detail:
        return detail["cleanup"]
    return ALL


def command_lines_of(event: dict[str, Any]) -> dict[str, str]:
    """Job name -> the command line it runs, for the job(s) the event names."""
    job = job_of(event)
    known = ", ".join([*JOBS, ALL])
    if not isinstance(job, str):  # a list or an object would not even hash
        raise BadCleanupEvent(
            f"Unknown cleanup job: expected a job name, not {type(job).__name__}. Known jobs: {known}."
        )
    if job != ALL and job not in JOBS:
        raise BadCleanupEvent(f"Unknown cleanup job {job!r}. Known jobs: {known}.")
    options = event.get("options", {})
    if options and job == ALL:
        raise BadCleanupEvent('Options need a named job, e.g. {"cleanup": "tokens", "options": {...}}.')
    if not isinstance(options, dict):
        raise BadCleanupEvent("Cleanup options must be an object of integer values.")
    if job == ALL:
        return dict(JOBS)
    unknown = sorted(str(name) for name in options if name not in JOB_OPTIONS[job])
    if unknown:
        allowed = ", ".join(sorted(JOB_OPTIONS[job])) or "none"
        raise BadCleanupEvent(f"Cleanup job {job!r} takes no option {', '.join(unknown)}. Allowed: {allowed}.")
    argv = [JOBS[job]]
    for name, value in sorted(options.items()):
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadCleanupEvent(f"Cleanup option {name!r} must be an integer.")
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return {job: shlex.join(argv)}


def allowed_pattern(job: str) -> str:
    """The allow-list entry (infra.commands) for the job's command: its options, each optional, with an integer."""
    options = " ".join(f"[--{name.replace('_', '-')} <int>]" for name in sorted(JOB_OPTIONS[job]))
    return f"{JOBS[job]} {options}".strip()


def run_cleanup(event: dict[str, Any]) -> dict[str, Any]:
    try:
        command_lines = command_lines_of(event)
    except BadCleanupEvent as exc:
        return {"ok": False, "error": str(exc)}
    results = {name: run_command_line(line, allowed=[allowed_pattern(name)]) for name, line in command_lines.items()}
    for name, result in results.items():
        logger.info("Cleanup job %s: %s", name, result["output"].strip(), extra={"job": name, **result})
    failed = sorted(name for name, result in results.items() if result["exit_code"] != 0)
    if failed:
        raise CleanupFailed(f"Cleanup job(s) failed: {', '.join(failed)}.")
    return {"ok": True, "jobs": results}
