from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from websockets_app.conf import ws_settings
from websockets_app.limits import MAX_CONNECTION_SECONDS
from websockets_app.models import WebSocketSession


class Command(BaseCommand):
    help = (
        "Mark as disconnected, in one UPDATE, the sessions still recorded as connected after API Gateway's "
        "two-hour connection limit (their $disconnect never arrived)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--max-age",
            type=int,
            default=MAX_CONNECTION_SECONDS,
            metavar="SECONDS",
            help=f"Mark sessions opened more than SECONDS ago (default {MAX_CONNECTION_SECONDS}). May not be "
            "shorter than the two-hour limit, or live connections would be marked.",
        )

    def handle(self, *args: Any, max_age: int, **options: Any) -> None:
        if max_age < MAX_CONNECTION_SECONDS:
            raise CommandError(
                f"--max-age must be at least {MAX_CONNECTION_SECONDS} seconds (API Gateway's connection limit); "
                "nothing was marked."
            )
        stale = WebSocketSession.objects.stale(max_age)
        if ws_settings.PRESENCE_SWEEP_NOTICES:
            from websockets_app.presence import sweep_leaves

            marked, notices = sweep_leaves(stale)
        else:
            marked, notices = stale.mark_disconnected(), 0
        self.stdout.write(
            self.style.SUCCESS(f"Marked {marked} stale WebSocket session(s) older than {max_age} seconds disconnected.")
        )
        if notices:
            self.stdout.write(self.style.SUCCESS(f"Sent {notices} presence leave notice(s)."))
