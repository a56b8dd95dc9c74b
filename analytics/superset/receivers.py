"""Sheets' services know nothing of Superset: it follows their saves and deletes instead (the sync
itself is queued after commit, for a jobs worker). Connected by AnalyticsConfig.ready()."""

from django.db.models.signals import post_delete, post_save

from core.jobs import jobs_swept
from sheets.models import Column, Sheet

from .sync import schedule_sync, syncs_swept


def _sheet_saved(sender, instance, created, update_fields=None, **kwargs):
    schedule_sync(instance.workspace_id)


def _sheet_deleted(sender, instance, **kwargs):
    schedule_sync(instance.workspace_id)


def _column_changed(sender, instance, **kwargs):
    workspace_id = Sheet.objects.filter(pk=instance.sheet_id).values_list("workspace_id", flat=True).first()
    if workspace_id is not None:
        schedule_sync(workspace_id)


def connect() -> None:
    """Follow the saves and deletes of sheets and columns."""
    post_save.connect(_sheet_saved, sender=Sheet, dispatch_uid="superset-sheet-saved")
    post_delete.connect(_sheet_deleted, sender=Sheet, dispatch_uid="superset-sheet-deleted")
    post_save.connect(_column_changed, sender=Column, dispatch_uid="superset-column-saved")
    post_delete.connect(_column_changed, sender=Column, dispatch_uid="superset-column-deleted")
    jobs_swept.connect(syncs_swept, dispatch_uid="superset-syncs-swept")  # a sync whose worker died
