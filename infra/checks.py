"""System checks of the Lambda wiring's settings (the app's own checks live in ``websockets_app.checks``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from infra.commands import InvalidAllowListEntry, parse_allow_list


@register(Tags.compatibility)
def check_lambda_manage_commands(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The operator allow-list must parse: a broken one refuses every command."""
    entries = getattr(settings, "LAMBDA_MANAGE_COMMANDS", None)
    if entries is None:
        return []
    try:
        parse_allow_list(entries)
    except InvalidAllowListEntry as exc:
        return [
            Error(
                f"LAMBDA_MANAGE_COMMANDS: {exc}",
                hint='Entries look like "migrate [--noinput] [--plan]", "cleanupWebSocketTokens [--token-age <int>]" '
                'or "migrate <name> zero"; placeholders are <int> and <name>.',
                id="infra.E001",
            )
        ]
    return []
