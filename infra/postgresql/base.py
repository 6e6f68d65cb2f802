"""Django's PostgreSQL backend, for a database whose credentials live in an RDS-managed secret that RDS rotates.

RDS rotates the master password of a cluster created with ``ManageMasterUserPassword`` (every seven days by
default). A Lambda container read the secret once, at init (``infra.secrets``), and may outlive a rotation; its next
login would then be refused until the container is recycled. Here a login refused for its password re-reads the
secret named by ``DATABASE_SECRET_ARN`` (one Secrets Manager call) and, if the password changed, connects again
with the new credentials, which later connections of the container then use. Any other error is raised as it is.
project/settings.py selects this engine when the database is built from that secret.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from django.db.backends.postgresql import base

from infra.secrets import DATABASE_SECRET_VARIABLE, read_database_credentials

logger = logging.getLogger(__name__)

# What libpq reports for SQLSTATE 28P01 (invalid_password) when a login is refused.
_REFUSED_LOGIN_MESSAGE = "password authentication failed"


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        try:
            return super().get_new_connection(conn_params)
        except base.Database.OperationalError as exc:
            secret = os.environ.get(DATABASE_SECRET_VARIABLE, "").strip()
            if not secret or _REFUSED_LOGIN_MESSAGE not in str(exc):
                raise
            credentials = read_database_credentials(secret)
            user, password = credentials["DATABASE_USER"], credentials["DATABASE_PASSWORD"]
            if (user, password) == (conn_params.get("user"), conn_params.get("password")):
                raise  # not a rotation: the secret holds what was refused
            logger.warning("Database login refused; connecting with the rotated credentials from the secret")
            self.settings_dict["USER"], self.settings_dict["PASSWORD"] = user, password
            return super().get_new_connection({**conn_params, "user": user, "password": password})
