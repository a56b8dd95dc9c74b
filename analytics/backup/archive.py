"""The archive file: a tar (gzip-, xz- or bz2-compressed by its name's suffix, or plain), the
manifest first so that a backup of another version is refused before its data is read, then
every member the manifest lists with its sha256 and size.

Writing goes to `<path>.partial`, renamed to `<path>` once complete: an interrupted backup never
leaves a file that looks like an archive. Reading streams the tar once into a staging directory,
checking every member against the manifest; only a fully verified archive is handed on."""

import hashlib
import io
import lzma
import os
import shutil
import tarfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from . import manifest as manifests
from .manifest import BackupFailed, BackupRefused

Progress = Callable[[str, int, int | None], None]
CHUNK = 1024 * 1024
SUFFIXES = {".tar": "", ".tar.gz": "gz", ".tgz": "gz", ".tar.xz": "xz", ".tar.bz2": "bz2"}
# gzip's level 3 compresses a pg_dump and Parquet files nearly as well as its default 9, at several
# times the speed (two cores, one of them busy serving).
COMPRESS_LEVEL = {"gz": 3, "bz2": 9, "xz": None}
_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError)


def compression(path: Path) -> str:
    name = path.name.lower()
    for suffix, kind in sorted(SUFFIXES.items(), key=lambda item: -len(item[0])):
        if name.endswith(suffix):
            return kind
    raise BackupFailed(f"{path.name}: name the archive .tar, .tar.gz, .tgz, .tar.xz or .tar.bz2")


def sha256_of(path: Path, progress: Callable[[int], None] | None = None) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest(), size


class _Checked(io.RawIOBase):
    """A member's file as tarfile reads it into the archive, hashed on the way: a file that changed
    since its checksum went into the manifest fails the backup instead of making a bad archive."""

    def __init__(self, handle: BinaryIO, name: str, expected: str, advance: Callable[[int], None]):
        self.handle, self.name_in_archive, self.expected = handle, name, expected
        self.digest, self.advance = hashlib.sha256(), advance

    def readable(self):
        return True

    def read(self, size=-1):
        chunk = self.handle.read(size)
        self.digest.update(chunk)
        self.advance(len(chunk))
        return chunk

    def verify(self):
        if self.digest.hexdigest() != self.expected:
            raise BackupFailed(f"{self.name_in_archive} changed while it was archived; run the backup again")


def write(path: Path, manifest: dict, members: dict[str, Path], progress: Progress) -> None:
    """Write the archive: `manifest` (whose "members" are filled in here) then `members` {name: file}."""
    kind = compression(path)
    total = sum(source.stat().st_size for source in members.values())
    entries, done = {}, 0
    for name, source in members.items():

        def hashed(n):
            nonlocal done
            done += n
            progress("checksums", done, total)

        digest, size = sha256_of(source, hashed)
        entries[name] = {"sha256": digest, "size": size}
    progress("checksums", total, total)
    manifest = {**manifest, "members": entries}
    raw = manifests.encode(manifest)
    partial = path.with_name(path.name + ".partial")
    options = {"compresslevel": COMPRESS_LEVEL[kind]} if COMPRESS_LEVEL.get(kind) else {}
    now = time.time()
    written = 0
    try:
        with tarfile.open(partial, f"w:{kind}" if kind else "w", format=tarfile.PAX_FORMAT, **options) as tar:
            info = tarfile.TarInfo(manifests.NAME)
            info.size, info.mtime, info.mode = len(raw), now, 0o600
            tar.addfile(info, io.BytesIO(raw))
            for name, source in members.items():
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = entries[name]["size"], now, 0o600

                def advance(n):
                    nonlocal written
                    written += n
                    progress("archive", written, total)

                with open(source, "rb") as handle:
                    checked = _Checked(handle, name, entries[name]["sha256"], advance)
                    tar.addfile(info, checked)
                    checked.verify()
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    progress("archive", total, total)


class Reader:
    """An archive opened for restore: `manifest` read (and its shape checked) at once; `extract()`
    streams every member into a staging directory and checks it against the manifest."""

    def __init__(self, path: Path):
        self.path = path
        if not path.is_file():
            raise BackupRefused(f"{path}: no such backup file")
        try:
            self.tar = tarfile.open(path, "r|*")
        except _READ_ERRORS as error:
            raise BackupRefused(f"corrupt backup: {path.name} is not a readable tar archive ({error})") from None
        self._members = self._iterate()
        first = next(self._members, None)
        if first is None or first[0].name != manifests.NAME:
            self.close()
            raise BackupRefused(f"not a Gridcast backup: {path.name} does not start with its {manifests.NAME}")
        info, handle = first
        if not info.isreg() or info.size > manifests.MAX_BYTES:
            self.close()
            raise BackupRefused(f"not a Gridcast backup: {path.name}'s {manifests.NAME} is not a small file")
        try:
            self.manifest = manifests.decode(self._read_all(handle))
        except BaseException:
            self.close()
            raise

    def _iterate(self) -> Iterator[tuple[tarfile.TarInfo, BinaryIO | None]]:
        while True:
            try:
                info = self.tar.next()
            except _READ_ERRORS as error:
                raise BackupRefused(f"corrupt backup: {self.path.name} cannot be read ({error})") from None
            if info is None:
                return
            yield info, (self.tar.extractfile(info) if info.isreg() else None)

    def _read_all(self, handle):
        try:
            return handle.read()
        except _READ_ERRORS as error:
            raise BackupRefused(f"corrupt backup: {self.path.name} cannot be read ({error})") from None

    def extract(self, staging: Path, progress: Progress) -> None:
        """Every member into `staging`, each checked: listed in the manifest, once, a regular file of
        the listed size and sha256; then every listed member present. BackupRefused otherwise."""
        expected = self.manifest["members"]
        total = sum(entry["size"] for entry in expected.values())
        seen, done = set(), 0
        for info, handle in self._members:
            name = info.name
            entry = expected.get(name)
            if entry is None or name in seen:
                raise BackupRefused(f"corrupt backup: member {name!r} is not in its manifest (or is there twice)")
            if handle is None or info.size != entry["size"]:
                raise BackupRefused(f"corrupt backup: member {name} is not the {entry['size']}-byte file listed")
            seen.add(name)
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            with open(target, "wb") as out:
                while True:
                    try:
                        chunk = handle.read(CHUNK)
                    except _READ_ERRORS as error:
                        raise BackupRefused(f"corrupt backup: {name} cannot be read ({error})") from None
                    if not chunk:
                        break
                    digest.update(chunk)
                    out.write(chunk)
                    done += len(chunk)
                    progress("verify", done, total)
            if digest.hexdigest() != entry["sha256"]:
                raise BackupRefused(f"corrupt backup: checksum mismatch in {name}")
        missing = sorted(set(expected) - seen)
        if missing:
            raise BackupRefused(
                f"partial backup: {len(missing)} member(s) listed in its manifest are missing, e.g. {missing[0]}"
            )
        progress("verify", total, total)

    def close(self) -> None:
        self.tar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
