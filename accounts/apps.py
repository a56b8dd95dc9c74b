from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and workspaces"

    def ready(self):
        from . import audit, invitations, sso

        invitations.connect_signals()
        sso.connect_signals()
        audit.connect_signals()
