"""After `superset db upgrade` and `superset init`: the admin Gridcast provisions with and the role
of embedded dashboards' guests, both named in the config that `manage.py superset_config`
generated. Idempotent. Run by `make superset` with Superset's Python.

The guest role holds only what an embedded dashboard needs to draw its charts (not Gamma's
permissions, which let a guest list databases and datasets, write charts, tags and themes, or
open Explore): which dashboards and charts a guest reaches, and which rows, is decided by its
guest token. The list is what an embedded dashboard of Gridcast's charts was seen to request
(tests/browser/test_superset.py draws one; tests/analytics/test_superset_hardening.py checks what
a guest is refused); native filters, legacy charts or time-range pickers would need more."""

from superset.app import create_app

# (permission, view) pairs; a pair this Superset does not know is reported and skipped.
GUEST_PERMISSIONS = [
    ("can_read", "CurrentUserRestApi"),  # /api/v1/me/roles/: the embedded app stops without it
    ("can_read", "Dashboard"),  # the dashboard, its charts and datasets
    ("can_read", "Chart"),  # chart data (/api/v1/chart/data)
    ("can_log", "Superset"),  # the app's own usage events: without it every view logs a 500 in Superset
]

app = create_app()
with app.app_context():
    from superset.extensions import db

    from superset import security_manager

    config = app.config
    admin = security_manager.find_user(username=config["GRIDCAST_ADMIN_USER"])
    if admin is None:
        security_manager.add_user(
            config["GRIDCAST_ADMIN_USER"],
            "Gridcast",
            "Admin",
            "admin@gridcast.local",
            security_manager.find_role("Admin"),
            password=config["GRIDCAST_ADMIN_PASSWORD"],
        )
    else:  # the password follows Gridcast's settings
        security_manager.reset_password(admin.id, config["GRIDCAST_ADMIN_PASSWORD"])
    guest = security_manager.find_role(config["GUEST_ROLE_NAME"]) or security_manager.add_role(
        config["GUEST_ROLE_NAME"]
    )
    permissions = []
    for permission, view in GUEST_PERMISSIONS:
        found = security_manager.find_permission_view_menu(permission, view)
        if found is None:
            print(f"guest role: this Superset has no {permission} on {view}; skipped")
        else:
            permissions.append(found)
    guest.permissions = permissions
    db.session.commit()
    print(
        f"admin {config['GRIDCAST_ADMIN_USER']}; role {guest.name} with {len(guest.permissions)} permissions: "
        + ", ".join(f"{p.permission.name} on {p.view_menu.name}" for p in guest.permissions)
    )
