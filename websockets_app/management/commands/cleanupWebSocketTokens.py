from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from websockets_app.conf import ws_settings
from websockets_app.models import ConnectionRateLimit, WebSocketToken


class Command(BaseCommand):
    help = "Delete old WebSocket tokens and old connection rate-limit buckets, each in one DELETE."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--token-age",
            type=int,
            default=300,
            metavar="SECONDS",
            help="Delete tokens created more than SECONDS ago (default 300). "
            "May not be shorter than WEBSOCKETS['TOKEN_EXPIRY_SECONDS'] (live tokens would go) or "
            "WEBSOCKETS['TOKEN_RATE_LIMIT_WINDOW_SECONDS'] (the token rate limit counts them).",
        )
        parser.add_argument(
            "--rate-limit-age",
            type=int,
            default=7,
            metavar="DAYS",
            help="Delete connection rate-limit buckets whose last attempt is more than DAYS old (default 7).",
        )

    def handle(self, *args: Any, token_age: int, rate_limit_age: int, **options: Any) -> None:
        needed = max(ws_settings.TOKEN_EXPIRY_SECONDS, ws_settings.TOKEN_RATE_LIMIT_WINDOW_SECONDS)
        if token_age < needed:
            raise CommandError(
                f"--token-age must be at least {needed} seconds (the token expiry and the token rate-limit "
                "window); nothing was deleted."
            )
        if rate_limit_age < 1:
            raise CommandError("--rate-limit-age must be at least 1 day; nothing was deleted.")

        tokens, _ = WebSocketToken.objects.older_than(token_age).delete()
        self.stdout.write(self.style.SUCCESS(f"Deleted {tokens} WebSocket token(s) older than {token_age} seconds."))
        attempts, _ = ConnectionRateLimit.objects.older_than(rate_limit_age).delete()
        self.stdout.write(
            self.style.SUCCESS(f"Deleted {attempts} rate-limit record(s) older than {rate_limit_age} day(s).")
        )
