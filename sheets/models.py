"""Sheets, their columns and rows, and the append-only operation log.

Rows and columns have stable ids (row id, column key); order is a separate position, so
inserting or deleting never renumbers the address of a cell.
"""

from django.conf import settings
from django.db import models

from accounts.models import Workspace

from . import column_types


class Sheet(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="sheets")
    name = models.CharField(max_length=200)
    version = models.BigIntegerField(default=0, help_text="Version of the last operation applied.")
    layout_version = models.BigIntegerField(
        default=0, help_text="Version of the last operation that changed which rows exist or their order."
    )
    next_column = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workspace", "name", "id"]

    def __str__(self):
        return self.name


class Column(models.Model):
    sheet = models.ForeignKey(Sheet, on_delete=models.CASCADE, related_name="columns")
    key = models.CharField(max_length=16, help_text="Stable address of the column; never reused in a sheet.")
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=10, choices=column_types.choices, default=column_types.TEXT)
    options = models.JSONField(default=dict, blank=True, help_text='For choice columns: {"choices": [...]}')
    position = models.FloatField()
    width = models.PositiveSmallIntegerField(default=140)
    # A deleted column keeps its values in the rows, so that undo can bring it back.
    deleted = models.BooleanField(default=False)

    class Meta:
        ordering = ["sheet", "position"]
        constraints = [models.UniqueConstraint(fields=["sheet", "key"], name="column_key_unique_per_sheet")]

    def __str__(self):
        return f"{self.name} ({self.key})"

    def as_dict(self):
        return {
            "key": self.key,
            "name": self.name,
            "type": self.type,
            "options": self.options,
            "position": self.position,
            "width": self.width,
        }


class Row(models.Model):
    # No index of its own: row_sheet_position's first column serves lookups by sheet, and each
    # index is one more write for every row a formula recompute rewrites. On PostgreSQL the table
    # keeps three tenths of each page free (fillfactor, migration 0011), so that rewriting a
    # row's data is a "heap-only" update that touches no index.
    sheet = models.ForeignKey(Sheet, on_delete=models.CASCADE, related_name="rows", db_index=False)
    position = models.FloatField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["sheet", "position"], name="row_sheet_position")]

    def __str__(self):
        return f"row {self.pk}"


class Operation(models.Model):
    """One committed change of a sheet. Versions are dense per sheet and give the order of truth."""

    sheet = models.ForeignKey(Sheet, on_delete=models.CASCADE, related_name="operations")
    version = models.BigIntegerField()
    kind = models.CharField(max_length=32)
    payload = models.JSONField(default=dict)
    previous = models.JSONField(null=True, blank=True, help_text="What the operation replaced, for undo.")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    op_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sheet", "version"]
        constraints = [
            models.UniqueConstraint(fields=["sheet", "version"], name="operation_version_unique_per_sheet"),
            models.UniqueConstraint(
                fields=["actor", "op_id"],
                condition=models.Q(op_id__isnull=False),
                name="operation_op_id_unique_per_actor",
            ),
        ]
        indexes = [
            # Undo and redo read one person's recent operations on a sheet.
            models.Index(fields=["sheet", "actor", "version"], name="operation_sheet_actor"),
            # Time travel reads the operations after a version that changed rows or columns,
            # without the cell edits, however many (sheets.time_travel.VALUE_KINDS).
            models.Index(
                fields=["sheet", "version"],
                name="operation_sheet_structure",
                condition=~models.Q(kind__in=["cells.update", "formulas.compute"]),
            ),
        ]

    def __str__(self):
        return f"{self.sheet_id}@{self.version} {self.kind}"


class RowChange(models.Model):
    """That the operation of `version` changed this row: one of its cells (col), or the row as a
    whole (col "": created or deleted). Written with the operation (services.operations), read by
    sheets.history to find a row's or a cell's operations, newest first, without scanning the log.
    The row id is not a foreign key: a deleted row keeps its history."""

    pk = models.CompositePrimaryKey("sheet", "row_id", "version", "col")
    # No database constraint: its check per inserted row was most of what indexing cost an edit
    # of many cells; the only writer (operations_append) writes under the sheet's lock, and
    # Django's CASCADE still deletes a sheet's RowChanges with it (the primary key's first column).
    sheet = models.ForeignKey(Sheet, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    row_id = models.BigIntegerField()
    version = models.BigIntegerField()
    col = models.CharField(max_length=16, blank=True)

    def __str__(self):
        return f"{self.sheet_id}@{self.version} row {self.row_id} {self.col}"


class ImportJob(models.Model):
    """A CSV or workbook import too large to run inside the request: polled by its creator until done or failed."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="import_jobs")
    name = models.CharField(max_length=200, help_text="Name of the sheet the import creates.")
    file_name = models.CharField(max_length=255, blank=True)
    size = models.BigIntegerField(default=0, help_text="Bytes uploaded.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0, help_text="From 0 to 1.")
    rows = models.BigIntegerField(default=0, help_text="Rows imported so far.")
    error = models.TextField(blank=True)
    sheet = models.ForeignKey(Sheet, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # A workbook's import: {"workbook": true, "worksheets": [names chosen], "named": the name was
    # given}; `sheets` the ids of the sheets it made (`sheet` is the first).
    options = models.JSONField(default=dict, blank=True)
    sheets = models.JSONField(default=list, blank=True)
    # Who runs it and whether it still does: the process ("host:pid:start token") that keeps it,
    # its last sign of life and its temporary copy of the upload, so that a job whose process
    # died is failed, and its half-made sheet and file removed (sheets.io.imports_reap).
    owner = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    path = models.CharField(max_length=1000, blank=True, help_text="The upload's temporary copy.")
    # The background task that runs it (django-tasks' DBTaskResult id), and how many times a
    # worker began it: a job whose worker died runs again until IMPORT_MAX_ATTEMPTS, then fails.
    task_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"import {self.pk} ({self.status})"


class PublicLink(models.Model):
    """A read-only link that opens one sheet (or a workspace's dashboard) without an account:
    /p/<key>/. The key is the whole credential; revoking the link (revoked_at) ends every
    connection opened with it (realtime.public)."""

    class Kind(models.TextChoices):
        SHEET = "sheet"
        DASHBOARD = "dashboard"

    ACCESS_VIEW = "view"  # the only access a public link gives

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="public_links")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SHEET)
    # The sheet a sheet link publishes (None for the workspace dashboard); deleting it deletes its links.
    sheet = models.ForeignKey(Sheet, null=True, blank=True, on_delete=models.CASCADE, related_name="public_links")
    access = models.CharField(max_length=10, default=ACCESS_VIEW)
    key = models.CharField(max_length=64, unique=True, help_text="The secret part of the link's url.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="sheet", sheet__isnull=False) | models.Q(kind="dashboard", sheet__isnull=True),
                name="public_link_target_matches_kind",
            )
        ]

    def __str__(self):
        return f"public {self.kind} link {self.pk}"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class SheetView(models.Model):
    """A saved way of looking at a sheet: filters, sorts, hidden, frozen, ordered and sized columns
    and footer totals (`config`, checked by sheets.saved_views.config_check). Personal (seen by its
    owner only) or shared with everyone who can read the sheet."""

    sheet = models.ForeignKey(Sheet, on_delete=models.CASCADE, related_name="views")
    name = models.CharField(max_length=200)
    # A shared view outlives the account that made it; a personal one whose owner is gone is seen by nobody.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="sheet_views"
    )
    shared = models.BooleanField(default=False, help_text="Shared with everyone who can read the sheet.")
    config = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sheet", "name", "id"]
        indexes = [models.Index(fields=["sheet", "shared"], name="sheet_view_sheet_shared")]

    def __str__(self):
        return f"view {self.name} of sheet {self.sheet_id}"


class FormulaRecompute(models.Model):
    """A sheet's formula columns being recomputed over every row in the background
    (sheets.services.recompute), batch by batch, so that a process killed meanwhile leaves what
    is left to do here; and the day the sheet's TODAY()/NOW() columns were last computed."""

    sheet = models.OneToOneField(Sheet, on_delete=models.CASCADE, primary_key=True, related_name="formula_recompute")
    columns = models.JSONField(default=list, blank=True, help_text="Keys of the formula columns still to compute.")
    after = models.BigIntegerField(default=0, help_text="Rows up to this id are computed.")
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    # A start (or a resume) takes a new token; a runner whose token is gone was superseded and stops.
    token = models.CharField(max_length=32, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    volatile_day = models.DateField(null=True, blank=True, help_text="TODAY()/NOW() columns computed for this day.")

    def __str__(self):
        return f"formula recompute of sheet {self.sheet_id} ({self.done}/{self.total})"

    def progress(self) -> dict:
        return {"columns": self.columns, "done": self.done, "total": self.total, "after": self.after}


class Comment(models.Model):
    """A comment on a cell (row id, column key) or on a whole row (col ""). The first comment of a
    thread has no `thread`; its replies point to it, and only it is resolved or reopened. The row is
    an id, not a foreign key: a thread follows its row when rows move, keeps its column across
    renames (the key is stable), and stays when the row is deleted (undo brings the row back), but
    a new comment on a row that is gone is refused (services.comments)."""

    sheet = models.ForeignKey(Sheet, on_delete=models.CASCADE, related_name="comments")
    row_id = models.BigIntegerField()
    col = models.CharField(max_length=16, blank=True, help_text='The column key, or "" for the whole row.')
    thread = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies", help_text="null: it starts one"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="comments"
    )
    body = models.TextField()
    mentions = models.JSONField(default=list, blank=True, help_text="ids of the users mentioned")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["sheet", "row_id", "col"], name="comment_cell")]

    def __str__(self):
        return f"{self.sheet_id} row {self.row_id} {self.col}: {self.body[:40]}"

    @property
    def thread_id_or_own(self) -> int:
        return self.thread_id or self.pk
