from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView, TemplateView

from project.chat.views import SignUpView
from project.websocket import SiteWebSocketView
from websockets_app.urls import websocket_path
from websockets_app.views import WebSocketTokenView


class FaviconView(RedirectView):
    """``/favicon.ico``, which browsers ask for on their own: the site's SVG icon (its static URL, hashed once
    collected, is looked up per request so that importing the URLs needs no manifest)."""

    permanent = True

    def get_redirect_url(self, *args: object, **kwargs: object) -> str:
        return static("chat/favicon.svg")


urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("favicon.ico", FaviconView.as_view(), name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/signup/", SignUpView.as_view(), name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("chat/", include("project.chat.urls")),
    path("api/ws-token/", WebSocketTokenView.as_view(), name="websocket-token"),
    websocket_path(SiteWebSocketView.as_view()),
]
