"""``infra`` as an installed app: only so that ``manage.py check`` sees the Lambda wiring's own system checks."""

from __future__ import annotations

from django.apps import AppConfig


class InfraConfig(AppConfig):
    name = "infra"
    verbose_name = "AWS Lambda wiring"

    def ready(self) -> None:
        from infra import checks  # noqa: F401  (registers the checks)
