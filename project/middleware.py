"""Static files through WhiteNoise, indexed on first use instead of at start-up."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings as django_settings
from django.http import HttpRequest, HttpResponseBase
from whitenoise.middleware import WhiteNoiseMiddleware


class LazyWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise that indexes ``STATIC_ROOT`` on the first request for a static file, not when Django starts.

    Indexing the collected files is part of a cold start's cost (measured in docs/performance.md). A container that
    only handles WebSocket events, schedules or operator commands never serves a static file; a container serving
    the site pays once, on its first static request. Everything else is WhiteNoise's own behaviour.
    """

    def __init__(self, get_response: Callable[..., Any] | None = None, settings: Any = django_settings) -> None:
        self._starting = True
        self._deferred: list[tuple[Any, str | None]] = []
        self._index_lock = threading.Lock()
        super().__init__(get_response, settings)
        self._starting = False

    def add_files(self, root: Any, prefix: str | None = None) -> None:
        if self._starting and not self.autorefresh and prefix == self.static_prefix:
            self._deferred.append((root, prefix))
            return
        super().add_files(root, prefix)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if self._deferred and request.path_info.startswith(self.static_prefix):
            with self._index_lock:
                for root, prefix in self._deferred:
                    super().add_files(root, prefix)
                self._deferred = []  # cleared only once every file is indexed
        return super().__call__(request)
