"""Run the test provider: `python -m tests.oidc_provider.serve <port>` (DJANGO_SETTINGS_MODULE=
tests.oidc_provider.settings). Creates its database, its one client application and its users from
the environment (OIDC_TEST_CLIENT, OIDC_TEST_USERS: JSON), then serves until terminated."""

import json
import os
import sys

import django


def seed() -> None:
    from django.contrib.auth.models import Group, User
    from oauth2_provider.models import Application

    from .claims import VERIFIED

    client = json.loads(os.environ["OIDC_TEST_CLIENT"])
    Application.objects.create(
        name="Gridcast",
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        # Loopback redirect URIs match on any port (RFC 8252): the Gridcast servers' ports are free ones.
        redirect_uris=" ".join(client["redirect_uris"]),
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    verified = Group.objects.create(name=VERIFIED)
    for spec in json.loads(os.environ["OIDC_TEST_USERS"]):
        user = User.objects.create_user(spec["username"], spec["email"], spec["password"])
        if spec.get("email_verified"):
            user.groups.add(verified)


def main() -> None:
    port = sys.argv[1]
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    seed()
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False, skip_checks=True)


if __name__ == "__main__":
    main()
