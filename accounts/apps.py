from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and workspaces"

    def ready(self):
        from . import audit, invitations

        invitations.connect_signals()
        audit.connect_signals()
