from django.apps import AppConfig


class WebSocketsAppConfig(AppConfig):
    name = "websockets_app"
    verbose_name = "API Gateway WebSockets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the system checks (django.core.checks) with Django.
        from websockets_app import checks  # noqa: F401
        from websockets_app.signals import connect_receivers

        # A user who logs out or is deactivated loses their open WebSocket connections.
        connect_receivers()
