from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"

    def ready(self) -> None:
        from sheets import signals

        from . import broadcast, public, revocation  # noqa: F401  (their receivers announce access changes)
        from .auth import redact_tokens_in_server_logs

        signals.operations_committed.connect(broadcast.operations_committed, dispatch_uid="realtime.operations")
        signals.sheet_deleted.connect(broadcast.sheet_deleted, dispatch_uid="realtime.sheet_deleted")
        signals.view_changed.connect(broadcast.view_changed, dispatch_uid="realtime.view_changed")
        signals.comment_changed.connect(broadcast.comment_changed, dispatch_uid="realtime.comment_changed")

        revocation.connect_mfa_signals()
        redact_tokens_in_server_logs()
