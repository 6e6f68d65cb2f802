from typing import Any

from django.core.management.base import BaseCommand

from websockets_app.models import WebSocketSession


class Command(BaseCommand):
    help = "Delete the records of WebSocket sessions that have disconnected, in one DELETE."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted, _ = WebSocketSession.objects.disconnected().delete()
        self.stdout.write(self.style.SUCCESS(f"Deleted {deleted} disconnected WebSocket session(s)."))
