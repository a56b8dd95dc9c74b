"""Alert rules on metrics or sheet columns, and the notifications their firings leave for each
workspace member. (Metric events and sheet data live in DuckLake, not in these tables: see
analytics.metrics and analytics.writethrough.)"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from sheets import column_types
from sheets.models import Column, Sheet


class AlertRule(models.Model):
    """A threshold on one value, compared each time the rule is evaluated:

    - source "metric": `agg` of the metric's events over the last `window_seconds` (tags filtered);
    - source "sheet": `agg` of the current values of one column of a sheet (all its rows: the
      window does not apply and is kept empty).

    `count` counts events (metric) or filled cells (sheet), so it is 0 when there are none, and
    so is `sum` (no revenue in the window is a revenue of 0): "count below 5" fires when data
    stops. avg, min and max of nothing have no value, and no value is never a breach.
    """

    class Source(models.TextChoices):
        METRIC = "metric", "metric"
        SHEET = "sheet", "sheet column"

    class Agg(models.TextChoices):
        SUM = "sum"
        COUNT = "count"
        AVG = "avg"
        MIN = "min"
        MAX = "max"

    class Comparison(models.TextChoices):
        LT = "<"
        LTE = "<="
        GT = ">"
        GTE = ">="

    class State(models.TextChoices):
        OK = "ok"
        FIRING = "firing"

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=6, choices=Source.choices, default=Source.METRIC)
    metric = models.CharField(max_length=100, blank=True, help_text="metric rules: the metric's name")
    sheet = models.ForeignKey(
        Sheet,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_rules",
        help_text="sheet rules: a sheet of the rule's workspace",
    )
    column = models.CharField(max_length=16, blank=True, help_text="sheet rules: the column's key, e.g. c3")
    agg = models.CharField(max_length=5, choices=Agg.choices, default=Agg.AVG)
    window_seconds = models.PositiveIntegerField(
        default=300, null=True, blank=True, help_text="metric rules only; sheet rules use every row"
    )
    comparison = models.CharField(max_length=2, choices=Comparison.choices, default=Comparison.GT)
    threshold = models.FloatField()
    tag_filter = models.JSONField(default=dict, blank=True, help_text="tag key → value; every one must match")
    enabled = models.BooleanField(default=True)
    email_members = models.BooleanField(
        default=False, help_text="e-mail every member of the workspace when it fires and when it recovers"
    )
    state = models.CharField(max_length=6, choices=State.choices, default=State.OK)
    last_value = models.FloatField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="alert_rules"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "analytics"
        ordering = ["workspace", "name", "id"]
        indexes = [models.Index(fields=["workspace", "metric", "enabled"], name="alert_rule_lookup")]
        constraints = [
            models.CheckConstraint(
                name="alert_rule_source_fields",
                condition=(
                    (Q(source="metric", sheet__isnull=True, column="", window_seconds__isnull=False) & ~Q(metric=""))
                    | (Q(source="sheet", metric="", window_seconds__isnull=True, sheet__isnull=False) & ~Q(column=""))
                ),
                violation_error_message="a metric rule has a metric and a window and no sheet; a sheet rule has a "
                "sheet and a column and no metric or window",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def is_sheet_rule(self):
        return self.source == self.Source.SHEET

    def sheet_column(self):
        """The rule's Column (a deleted one too), or None. Uses prefetched `sheet.columns` if any."""
        if self.sheet_id is None or not self.column:
            return None
        return next((c for c in self.sheet.columns.all() if c.key == self.column), None)

    @property
    def column_name(self):
        column = self.sheet_column()
        return column.name if column is not None else None

    @property
    def subject(self):
        """What the rule measures, in the words of its notifications: `avg(error_rate) over 60s`,
        `sum(Amount) of sheet Orders`."""
        if self.is_sheet_rule:
            return f"{self.agg}({self.column_name or self.column}) of sheet {self.sheet.name if self.sheet_id else '?'}"
        return f"{self.agg}({self.metric}) over {self.window_seconds}s"

    @property
    def condition(self):
        return f"{self.subject} {self.comparison} {self.threshold:g}"

    def clean(self):
        """The fields of the rule's source, and what does not apply cleared. A sheet must be of the
        rule's workspace, its column active, and numeric unless the rule counts."""
        if self.is_sheet_rule:
            self.metric, self.window_seconds, self.tag_filter = "", None, {}
            self._clean_sheet_column()
        else:
            self.sheet, self.column = None, ""
            errors = {}
            if not self.metric:
                errors["metric"] = "a metric rule needs the metric's name, e.g. error_rate"
            if self.window_seconds is None:
                errors["window_seconds"] = "a metric rule needs a window (seconds), e.g. 60"
            if errors:
                raise ValidationError(errors)

    def _clean_sheet_column(self):
        if self.sheet_id is None:
            raise ValidationError({"sheet": "a sheet rule needs a sheet"})
        sheet = Sheet.objects.filter(pk=self.sheet_id, workspace_id=self.workspace_id).first()
        if sheet is None:
            # The same words for a sheet of another workspace as for none: it is not revealed.
            raise ValidationError({"sheet": f"no sheet {self.sheet_id} in this workspace"})
        if not self.column:
            raise ValidationError({"column": "a sheet rule needs a column (its key, e.g. c3)"})
        column = Column.objects.filter(sheet_id=sheet.pk, key=self.column).first()
        if column is None:
            raise ValidationError({"column": f"sheet {sheet.name} has no column {self.column}"})
        if column.deleted:
            raise ValidationError({"column": f"column {column.name} ({column.key}) of sheet {sheet.name} was deleted"})
        if self.agg != self.Agg.COUNT and column.type not in column_types.numeric_types():
            kind = column.get_type_display().lower()
            raise ValidationError(
                {
                    "column": f"{self.agg} needs a number column; {column.name} is a {kind} column "
                    "(count works on any column)"
                }
            )

    def holds(self, value):
        if value is None:  # no value (avg, min, max of nothing) is not a breach
            return False
        return {
            "<": value < self.threshold,
            "<=": value <= self.threshold,
            ">": value > self.threshold,
            ">=": value >= self.threshold,
        }[self.comparison]


class AlertStateChange(models.Model):
    """One change of a rule's state: it fired, it recovered, or a change of its condition reset it
    (firing to ok without a recovery). Kept with the value and the condition of that moment."""

    class Event(models.TextChoices):
        FIRED = "fired"
        RECOVERED = "recovered"
        RESET = "reset", "reset (condition changed)"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="state_changes")
    event = models.CharField(max_length=9, choices=Event.choices)
    state = models.CharField(max_length=6, choices=AlertRule.State.choices, help_text="the state it moved to")
    value = models.FloatField(null=True, blank=True, help_text="the value compared then")
    condition = models.CharField(max_length=500, help_text="the rule's condition then, e.g. avg(error_rate) > 0.05")
    at = models.DateTimeField()

    class Meta:
        app_label = "analytics"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["rule", "-id"], name="alert_state_history")]

    def __str__(self):
        return f"{self.rule_id} {self.event} at {self.at:%Y-%m-%d %H:%M:%S}"


class Notification(models.Model):
    """One thing of the bell's: an alert that fired (`rule`), or a mention of the person or a reply in
    their thread (`link` leads to the comment). Each person's preferences decide whether it is
    stored for the bell and whether it is e-mailed (analytics.alerts.inbox)."""

    class Kind(models.TextChoices):
        ALERT = "alert"
        MENTION = "mention"
        REPLY = "reply"
        INVITATION = "invitation"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ALERT)
    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications")
    link = models.CharField(max_length=500, blank=True, help_text="where the bell leads: a sheet and its comment")
    sheet = models.ForeignKey(
        Sheet,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="a mention's or reply's sheet: shown to whoever the sheet is shared with, member or not",
    )
    message = models.CharField(max_length=500)
    value = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "analytics"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at", "-created_at"], name="notification_inbox")]

    def __str__(self):
        return self.message

    @property
    def is_read(self):
        return self.read_at is not None
