"""The manifest of a backup archive (its first member, `manifest.json`): the format and its
version, the Gridcast version and the latest migration of each app the database had, the
database engine, the lake's catalog kind, the creation time, and the sha256 and size of every
other member. And whether this code can restore an archive (`check_restorable`)."""

import datetime as dt
import importlib.metadata
import json
import re
from typing import Any

from django.db.migrations.loader import MigrationLoader

FORMAT = "gridcast-backup"
FORMAT_VERSION = 1
NAME = "manifest.json"
MAX_BYTES = 16 * 1024 * 1024  # a manifest lists files; more than this is not one of ours
# Member names: relative paths of plain characters, never absolute, never `..`.
MEMBER_NAME = re.compile(r"^(?!/)(?!.*(?:^|/)\.\.?(?:/|$))[A-Za-z0-9._/-]{1,1024}$")


class BackupRefused(Exception):
    """An archive (or a target installation) that restore will not touch; the message is one line."""


class BackupFailed(Exception):
    """A backup or restore that could not be completed; the message is one line."""


def gridcast_version() -> str:
    try:
        return importlib.metadata.version("gridcast")
    except importlib.metadata.PackageNotFoundError:  # a checkout that was not pip-installed
        return "unknown"


def latest_migrations(applied: list[tuple[str, str]]) -> dict[str, str]:
    """{app: its latest applied migration} of django_migrations' (app, name) rows (names are numbered)."""
    latest: dict[str, str] = {}
    for app, name in applied:
        if app not in latest or name > latest[app]:
            latest[app] = name
    return dict(sorted(latest.items()))


def build(
    *, engine: str, catalog: str, installation: str, migrations: dict, data_path: str, members: dict, lake_files: int
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "gridcast_version": gridcast_version(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "engine": engine,
        "installation": installation,
        "migrations": migrations,
        "lake": {"catalog": catalog, "data_path": data_path, "files": lake_files},
        "members": members,
    }


def encode(manifest: dict) -> bytes:
    return json.dumps(manifest, indent=2, sort_keys=True).encode()


def decode(raw: bytes) -> dict[str, Any]:
    """The manifest, its shape checked (BackupRefused when it is not one of ours)."""
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise BackupRefused("corrupt backup: its manifest is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupRefused("not a Gridcast backup: its manifest does not name the gridcast-backup format")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BackupRefused(f"backup format version {version!r} is not the one this Gridcast reads ({FORMAT_VERSION})")
    members = manifest.get("members")
    lake = manifest.get("lake")
    if (
        not isinstance(members, dict)
        or not isinstance(manifest.get("migrations"), dict)
        or not isinstance(lake, dict)
        or not isinstance(lake.get("data_path"), str)
        or manifest.get("engine") not in ("postgresql", "sqlite")
        or lake.get("catalog") not in ("postgresql", "sqlite")
    ):
        raise BackupRefused("corrupt backup: its manifest lacks members, migrations, engine or lake")
    for name, entry in members.items():
        if (
            not MEMBER_NAME.match(name)
            or not isinstance(entry, dict)
            or not isinstance(entry.get("size"), int)
            or not re.fullmatch(r"[0-9a-f]{64}", str(entry.get("sha256")))
        ):
            raise BackupRefused(f"corrupt backup: its manifest's entry for {name!r} is malformed")
    return manifest


def check_restorable(manifest: dict, *, engine: str, catalog: str) -> None:
    """Refuse an archive of another engine or catalog kind, or with a migration this code does not have
    (a backup of a newer Gridcast: its tables are not the ones this code knows)."""
    if manifest["engine"] != engine:
        raise BackupRefused(f"the backup is of a {manifest['engine']} installation; this one runs on {engine}")
    if manifest["lake"]["catalog"] != catalog:
        raise BackupRefused(
            f"the backup's lake catalog is in {manifest['lake']['catalog']}; this installation's is in {catalog}"
        )
    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    for app, name in sorted(manifest["migrations"].items()):
        if (app, name) not in known:
            raise BackupRefused(
                f"the backup is from a newer Gridcast ({manifest.get('gridcast_version')}): "
                f"migration {app}.{name} is unknown to this one ({gridcast_version()})"
            )
