"""Django's PostgreSQL backend for credentials that RDS rotates (``ENGINE: "infra.postgresql"``; see base.py)."""
