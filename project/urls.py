from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

from project.chat.views import SignUpView
from project.websocket import SiteWebSocketView
from websockets_app.urls import websocket_path
from websockets_app.views import WebSocketTokenView

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("admin/", admin.site.urls),
    path("accounts/signup/", SignUpView.as_view(), name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("chat/", include("project.chat.urls")),
    path("api/ws-token/", WebSocketTokenView.as_view(), name="websocket-token"),
    websocket_path(SiteWebSocketView.as_view()),
]
