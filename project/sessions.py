"""Database sessions that only look up keys Django could have issued.

Django's cookie parser unescapes quoted cookie values, so ``sessionid="abcdefgh\\000ijkl"`` reaches the session
store with a NUL in its key, and PostgreSQL refuses any query that carries one: every page and WebSocket connect
with such a cookie would be a server error. Django issues session keys of lower-case letters and digits only; any
other key is treated as no session, without a query, as Django already treats one that is too short.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db


class SessionStore(db.SessionStore):
    def _validate_session_key(self, key: str | None) -> bool:
        return bool(super()._validate_session_key(key)) and key.isascii() and key.isalnum()
