"""Users (e-mail login), workspaces (tenants), memberships with roles, and API tokens."""

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractUser
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("an e-mail address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    class Theme(models.TextChoices):
        SYSTEM = "system"
        LIGHT = "light"
        DARK = "dark"

    username = None
    email = models.EmailField("e-mail address", unique=True)
    display_name = models.CharField(max_length=100, blank=True)
    theme = models.CharField(max_length=10, choices=Theme.choices, default=Theme.SYSTEM)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    objects = UserManager()

    class Meta:
        ordering = ["email"]

    def __str__(self):
        return self.email

    @property
    def label(self):
        return self.display_name or self.get_full_name() or self.email.split("@")[0]


class Role(models.TextChoices):
    OWNER = "owner"
    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"

    @property
    def rank(self):
        return ROLE_RANK[self]


ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3, Role.OWNER: 4}

# Bounds of Workspace.metric_retention_days. At least a day: alert windows, live charts and the
# rollup's own lag all read recent raw events; at most ten years.
METRIC_RETENTION_MIN_DAYS = 1
METRIC_RETENTION_MAX_DAYS = 3650
METRIC_RETENTION_MESSAGE = (
    f"metric_retention_days must be a whole number of days from {METRIC_RETENTION_MIN_DAYS} to "
    f"{METRIC_RETENTION_MAX_DAYS}, or null to keep metric events forever"
)


class Workspace(models.Model):
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces")
    # Members without an authenticator app or a security key get nothing of this workspace (pages,
    # REST, sockets, their API tokens) and are sent to set one up at login (accounts/two_factor.py).
    require_two_factor = models.BooleanField(
        "members must use two-factor authentication",
        default=False,
        help_text="Members without an authenticator app or a security key cannot reach this workspace.",
    )
    # Raw metric events older than this many days are deleted once the rollups hold them
    # (analytics/metrics/retention.py); charts over older ranges answer from the rollups.
    metric_retention_days = models.PositiveIntegerField(
        "metric retention (days)",
        null=True,
        blank=True,
        validators=[
            MinValueValidator(METRIC_RETENTION_MIN_DAYS, METRIC_RETENTION_MESSAGE),
            MaxValueValidator(METRIC_RETENTION_MAX_DAYS, METRIC_RETENTION_MESSAGE),
        ],
        help_text=f"Raw metric events older than this many days ({METRIC_RETENTION_MIN_DAYS} to "
        f"{METRIC_RETENTION_MAX_DAYS}) are deleted; their per-minute and per-hour rollups stay, so charts over "
        "older ranges still answer. Empty: keep every event forever.",
    )

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="one_membership_per_user")]
        ordering = ["workspace", "user"]

    def __str__(self):
        return f"{self.user} in {self.workspace} ({self.role})"


def _hash_key(key):
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """A secret for scripts. Only its hash is stored; the key is shown once, at creation."""

    PREFIX = "gc_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    workspace = models.ForeignKey(
        Workspace,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="When set, the token reaches only this workspace.",
    )
    key_prefix = models.CharField(max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.key_prefix}…)"

    @classmethod
    def issue(cls, *, user, name, workspace=None):
        key = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, name=name, workspace=workspace, key_prefix=key[:10], key_hash=_hash_key(key)
        )
        return token, key

    @classmethod
    def find(cls, key):
        if not key or not key.startswith(cls.PREFIX) or len(key) > 100:
            return None
        return cls.objects.select_related("user").filter(key_hash=_hash_key(key)).first()


class Invitation(models.Model):
    """Access given to an e-mail address that no account has verified yet: a workspace role or a
    sheet share, granted (and this row deleted) once an account verifies the address
    (accounts.invitations)."""

    class Level(models.TextChoices):
        VIEW = "view"
        EDIT = "edit"

    email = models.EmailField()
    workspace = models.ForeignKey(
        Workspace, null=True, blank=True, on_delete=models.CASCADE, related_name="invitations"
    )
    sheet = models.ForeignKey(
        "sheets.Sheet", null=True, blank=True, on_delete=models.CASCADE, related_name="invitations"
    )
    role = models.CharField(max_length=10, choices=Role.choices, blank=True)
    level = models.CharField(max_length=10, choices=Level.choices, blank=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # An invitation sent by e-mail (POST /api/v1/workspaces/<id>/invitations/): the hash of the key
    # its link carries, and when the link stops working. Invitations that wait for an address to be
    # verified (the members and share endpoints) have neither and do not expire.
    key_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Accepted (by its link or by a login with the address): kept, so that the link, opened again by
    # the member it made, says so instead of "not valid"; no longer pending.
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(workspace__isnull=False, sheet__isnull=True, level="") & ~models.Q(role=""))
                | (models.Q(workspace__isnull=True, sheet__isnull=False, role="") & ~models.Q(level="")),
                name="invitation_to_a_workspace_or_a_sheet",
            ),
            models.UniqueConstraint(
                fields=["email", "workspace"],
                condition=models.Q(workspace__isnull=False),
                name="one_invitation_per_workspace",
            ),
            models.UniqueConstraint(
                fields=["email", "sheet"], condition=models.Q(sheet__isnull=False), name="one_invitation_per_sheet"
            ),
        ]
        indexes = [models.Index(fields=["email"], name="invitation_email")]

    def __str__(self):
        target = (
            f"workspace {self.workspace_id} as {self.role}"
            if self.workspace_id
            else f"sheet {self.sheet_id} ({self.level})"
        )
        return f"{self.email} to {target}"

    KEY_PREFIX = "gci_"

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def new_key(self) -> str:
        """A fresh link key for this invitation (the previous link stops working); only its hash is kept."""
        key = self.KEY_PREFIX + secrets.token_urlsafe(32)
        self.key_hash = _hash_key(key)
        return key

    @classmethod
    def find(cls, key: str) -> "Invitation | None":
        if not key or not key.startswith(cls.KEY_PREFIX) or len(key) > 100:
            return None
        return cls.objects.select_related("workspace").filter(key_hash=_hash_key(key)).first()


class AuditEvent(models.Model):
    """One security-relevant event (accounts.audit.KINDS): who, when, from where, in which
    workspace, to what. Append-only: a row is never changed, and only the retention purge
    (accounts.audit.purge) deletes rows, as a queryset."""

    kind = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The actor's address when it happened (a failed login: the address tried); kept after the
    # account changes its address or is deleted.
    actor_email = models.CharField(max_length=254, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    workspace = models.ForeignKey(
        Workspace, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    # The workspace's id, kept when the workspace is deleted (the FK is then null), for the admin.
    workspace_ref = models.BigIntegerField(null=True, blank=True, db_index=True)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="audit_workspace_time"),
            models.Index(fields=["actor", "-created_at"], name="audit_actor_time"),
            models.Index(fields=["actor_email"], name="audit_actor_email"),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.kind} by {self.actor_email or '-'}: {self.target}"

    def save(self, *args, **kwargs):
        if self.pk is not None or kwargs.get("force_update") or kwargs.get("update_fields"):
            raise ValueError("audit events are append-only: an event is never changed")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit events are append-only: only the retention purge deletes them")


class NotificationPreference(models.Model):
    """How one person hears of one kind of notification: in the app (the bell), by e-mail, both or
    not at all. A kind without a row has its default (accounts.notification_preferences.DEFAULTS)."""

    class Kind(models.TextChoices):
        MENTION = "mention", "mentions"
        REPLY = "reply", "replies in your threads"
        ALERT = "alert", "alerts"
        INVITATION = "invitation", "invitations"

    class Channel(models.TextChoices):
        IN_APP = "in_app", "in the app"
        EMAIL = "email", "by e-mail"
        BOTH = "both", "both"
        NONE = "none", "none"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    channel = models.CharField(max_length=6, choices=Channel.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_once")]

    def __str__(self):
        return f"{self.user_id} {self.kind}: {self.channel}"
