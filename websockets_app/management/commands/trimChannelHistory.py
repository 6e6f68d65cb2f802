from typing import Any

from django.core.management.base import BaseCommand

from websockets_app.messaging.replay import trim


class Command(BaseCommand):
    help = (
        "Delete, in one DELETE, the replayable channel messages no resume can use any more: past each channel's "
        "newest WEBSOCKETS['REPLAY_HISTORY_LENGTH'], or older than WEBSOCKETS['REPLAY_HISTORY_MAX_AGE_SECONDS']."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = trim()
        self.stdout.write(self.style.SUCCESS(f"Deleted {deleted} channel history message(s)."))
