"""AWS clients and credentials, created once per process and reused across calls and Lambda invocations.

botocore is imported on the first call, never when Django starts (boto3's clients are botocore clients; boto3
itself adds nothing these calls need). A forked child starts with an empty cache: a client's connection pool
must not be shared between processes.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_lock = threading.Lock()
_clients: dict[tuple[str, str, str, int], Any] = {}
_session: Any = None
_pid = os.getpid()

CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 10


def _botocore_session() -> Any:
    """The process's botocore session (the caller holds ``_lock``)."""
    global _session, _pid
    if _pid != os.getpid():
        _clients.clear()
        _session, _pid = None, os.getpid()
    if _session is None:
        import botocore.session

        _session = botocore.session.get_session()
    return _session


def client(service: str, region: str, endpoint_url: str = "", pool_size: int = 10) -> Any:
    """A cached client. Retries are left to the callers, which know which errors are safe to repeat."""
    key = (service, region, endpoint_url, pool_size)
    with _lock:
        session = _botocore_session()
        cached = _clients.get(key)
        if cached is None:
            from botocore.config import Config

            config = Config(
                retries={"total_max_attempts": 1},
                max_pool_connections=pool_size,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                read_timeout=READ_TIMEOUT_SECONDS,
            )
            cached = session.create_client(
                service, region_name=region, endpoint_url=endpoint_url or None, config=config
            )
            _clients[key] = cached
    return cached


def frozen_credentials() -> Any:
    """The current credentials from botocore's usual chain (environment, config files, the Lambda role), or None.

    Refreshable credentials renew themselves here when they are close to expiry.
    """
    with _lock:
        credentials = _botocore_session().get_credentials()
    return credentials.get_frozen_credentials() if credentials is not None else None


def reset() -> None:
    """Forget the session and every cached client (tests do this so each starts from its own mocks)."""
    global _session
    with _lock:
        _clients.clear()
        _session = None
