"""After `superset db upgrade` and `superset init`: the admin Gridcast provisions with and the role
of embedded dashboards' guests (Gamma's permissions), both named in the config that
`manage.py superset_config` generated. Idempotent. Run by `make superset` with Superset's Python."""
from superset.app import create_app

app = create_app()
with app.app_context():
    from superset import security_manager
    from superset.extensions import db

    config = app.config
    admin = security_manager.find_user(username=config["GRIDCAST_ADMIN_USER"])
    if admin is None:
        security_manager.add_user(config["GRIDCAST_ADMIN_USER"], "Gridcast", "Admin", "admin@gridcast.local",
                                  security_manager.find_role("Admin"), password=config["GRIDCAST_ADMIN_PASSWORD"])
    else:  # the password follows Gridcast's settings
        security_manager.reset_password(admin.id, config["GRIDCAST_ADMIN_PASSWORD"])
    gamma = security_manager.find_role("Gamma")
    guest = security_manager.find_role(config["GUEST_ROLE_NAME"]) or security_manager.add_role(config["GUEST_ROLE_NAME"])
    guest.permissions = list(gamma.permissions)
    db.session.commit()
    print(f"admin {config['GRIDCAST_ADMIN_USER']}; role {guest.name} with {len(guest.permissions)} permissions")
