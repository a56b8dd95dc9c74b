from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"

    def ready(self) -> None:
        from . import revocation  # noqa: F401  (its receivers announce access changes)
        from .auth import redact_tokens_in_server_logs

        redact_tokens_in_server_logs()
