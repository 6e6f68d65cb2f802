from django.urls import path
from django.views.generic import RedirectView

from project.chat.views import LOBBY, RoomView

app_name = "chat"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="chat:room", permanent=False), {"room": LOBBY}, name="index"),
    path("<str:room>/", RoomView.as_view(), name="room"),
]
