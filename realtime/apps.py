from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"

    def ready(self):
        from . import signals  # noqa: F401
        from .auth import redact_tokens_in_server_logs

        redact_tokens_in_server_logs()
