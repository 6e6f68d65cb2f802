"""Scheduled cleanup: an EventBridge schedule names a job (``{"cleanup": "sessions"}``) and the job's management
command runs. A schedule without a job name (the bare "Scheduled Event") runs every job.

Every job is idempotent, so Lambda's retries are harmless; a job that fails raises, so the invocation is counted
as an error (and retried) instead of passing silently.
"""

from __future__ import annotations

import logging
from typing import Any

from infra.commands import run_command_line

logger = logging.getLogger(__name__)

JOBS: dict[str, str] = {
    "sessions": "clearWebSocketSessions",
    "tokens": "cleanupWebSocketTokens",
}
ALL = "all"


class CleanupFailed(RuntimeError):
    """A cleanup job's command did not succeed."""


def job_of(event: dict[str, Any]) -> Any:
    if "cleanup" in event:
        return event["cleanup"]
    detail = event.get("detail")
    if isinstance(detail, dict) and "cleanup" in detail:
        return detail["cleanup"]
    return ALL


def run_cleanup(event: dict[str, Any]) -> dict[str, Any]:
    job = job_of(event)
    if job != ALL and job not in JOBS:
        known = ", ".join([*JOBS, ALL])
        return {"ok": False, "error": f"Unknown cleanup job {job!r}. Known jobs: {known}."}
    names = list(JOBS) if job == ALL else [job]
    results = {name: run_command_line(JOBS[name], allowed={JOBS[name]}) for name in names}
    for name, result in results.items():
        logger.info("Cleanup job %s: %s", name, result["output"].strip(), extra={"job": name, **result})
    failed = sorted(name for name, result in results.items() if result["exit_code"] != 0)
    if failed:
        raise CleanupFailed(f"Cleanup job(s) failed: {', '.join(failed)}.")
    return {"ok": True, "jobs": results}
