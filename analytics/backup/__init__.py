"""Backup and restore of a whole installation (`manage.py backup`, `manage.py restore`): the Django
database and the lake (its catalog and the Parquet files that catalog references) in one archive
with a manifest, and the checks that refuse a bad archive before anything is changed.

- manifest.py: what an archive says about itself, and whether this code can restore it.
- archive.py: the tar file, written manifest first, read back into a staging directory with every
  member's sha256 checked.
- postgres.py, sqlite.py: a consistent copy of each kind of database and its restore.
- lake.py: the lake's catalog snapshot and the files it references.
- installation.py: backup_write() and backup_restore(), which put these together.
"""
