"""The chat's pages: a room (its history rendered by Django, live messages over the WebSocket) and sign-up."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import RedirectURLMixin
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.generic import FormView, TemplateView

from project.chat.models import TEXT_MAX_LENGTH, ChatMessage
from websockets_app.conf import ws_settings
from websockets_app.messaging.replay import last_seq
from websockets_app.mixins import WebSocketContextMixin
from websockets_app.validators import CHANNEL_NAME_COLUMN_LENGTH

LOBBY = "lobby"


# The page's script asks the token endpoint for a token with the CSRF cookie, so the page makes sure it is set.
@method_decorator(ensure_csrf_cookie, name="dispatch")
class RoomView(LoginRequiredMixin, WebSocketContextMixin, TemplateView):
    """``/chat/<room>/``: the room's latest messages, oldest first, and a connection to the room's channel."""

    template_name = "chat/room.html"

    def get_websocket_channel(self) -> str:
        return self.kwargs["room"]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)  # a room that is no channel name is a 404 here, before queries
        room = context["websocket_channel"]
        # Where the room's replayable messages stand, read before the messages the page shows: the client resumes
        # from here, so nothing sent while the page loads is missed (a message in both is shown once, by id).
        context["websocket_config"]["since"] = last_seq(room)
        context.update(
            room=room,
            chat_messages=ChatMessage.objects.latest_in(room),
            text_max_length=TEXT_MAX_LENGTH,
            # For the room switcher: the page refuses names the pattern rejects instead of failing to connect.
            channel_pattern=ws_settings.CHANNEL_NAME_PATTERN,
            channel_max_length=min(ws_settings.CHANNEL_NAME_MAX_LENGTH, CHANNEL_NAME_COLUMN_LENGTH),
        )
        return context


class SignUpView(RedirectURLMixin, FormView):
    """``/accounts/signup/``: a new account, signed in at once, so trying the chat needs no createsuperuser.

    Afterwards: the ``next`` page when it is on this site (checked as LoginView checks it), else the chat.
    """

    template_name = "registration/signup.html"
    form_class = UserCreationForm
    next_page = "chat:index"

    def form_valid(self, form: UserCreationForm) -> HttpResponse:
        user = form.save()
        login(self.request, user)
        return redirect(self.get_success_url())

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["next"] = self.request.POST.get("next") or self.request.GET.get("next", "")
        return context
