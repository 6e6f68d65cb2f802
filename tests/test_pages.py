"""The site's pages as Django renders them: one stylesheet and an icon on every page, a favicon that is no 404, the
sign-in error where it can be seen (tests/test_browser_chat.py looks at the pages in Chromium)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_favicon_ico_leads_to_the_site_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == "/static/chat/favicon.svg"
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(icon.streaming_content)


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/accounts/signup/"])
def test_every_page_has_the_site_stylesheet_and_icon(client, path):
    html = client.get(path).content.decode()
    assert html.count('rel="stylesheet"') == 1
    assert 'href="/static/chat/chat.css"' in html
    assert '<link rel="icon" href="/static/chat/favicon.svg" type="image/svg+xml">' in html
    assert "https://" not in html  # no font or script from elsewhere


def test_a_failed_sign_in_says_so_in_an_alert_above_the_fields(client, django_user_model):
    django_user_model.objects.create_user("ada", password="a-long-test-password-1")
    html = client.post("/accounts/login/", {"username": "ada", "password": "wrong"}).content.decode()
    error = html.index('<div class="form-error" role="alert">')
    assert "Please enter a correct username and password" in html[error:]
    assert error < html.index('id="id_username"')
    assert 'class="errorlist nonfield"' not in html  # shown once, in the alert


def test_the_sign_up_link_is_one_paragraph(client):
    html = client.get("/accounts/login/?next=/chat/garden/").content.decode()
    assert '<p class="switch">No account yet? <a href="/accounts/signup/?next=/chat/garden/">Sign up</a>.</p>' in html
