"""Static files: WhiteNoise indexes the collected files on the first static request, then serves them."""

from __future__ import annotations

import pytest
from django.http import HttpResponse

from project.middleware import LazyWhiteNoiseMiddleware


@pytest.fixture
def collected(settings, tmp_path):
    (tmp_path / "site.css").write_text("body { color: black; }")
    settings.STATIC_ROOT = str(tmp_path)
    settings.WHITENOISE_AUTOREFRESH = False
    settings.WHITENOISE_USE_FINDERS = False
    return tmp_path


def make_middleware() -> LazyWhiteNoiseMiddleware:
    return LazyWhiteNoiseMiddleware(lambda request: HttpResponse("from django"))


@pytest.mark.usefixtures("collected")
def test_nothing_is_indexed_at_start_up_or_for_other_paths(rf):
    middleware = make_middleware()
    assert middleware.files == {}
    assert middleware(rf.post("/ws/default")).content == b"from django"
    assert middleware.files == {}


@pytest.mark.usefixtures("collected")
def test_the_first_static_request_indexes_and_serves(rf):
    middleware = make_middleware()
    response = middleware(rf.get("/static/site.css"))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"body { color: black; }"
    assert "/static/site.css" in middleware.files
    assert middleware(rf.get("/static/missing.css")).content == b"from django"


def test_autorefresh_mode_is_plain_whitenoise(collected, settings, rf):
    settings.WHITENOISE_AUTOREFRESH = True
    middleware = make_middleware()
    assert middleware._deferred == []
    assert middleware(rf.get("/static/site.css")).status_code == 200
