"""The frames of the live dashboard (ws/dashboards/<id>/ and its Server-Sent Events fallback) and of
the bell's stream (docs/dashboards.md is the contract; its frame tables are rendered from here)."""

from core.frames import (
    INT,
    JSON,
    NUMBER,
    STR,
    FrameRegistry,
    ListOf,
    Record,
    literal,
    named,
    nullable,
    optional,
)

DASHBOARD_FRAMES = FrameRegistry(
    "dashboard",
    "`ws/dashboards/<workspace id>/` (and as events of its Server-Sent Events stream)",
    "docs/dashboards.md",
)
NOTIFICATION_EVENTS = FrameRegistry(
    "notifications", "the bell's stream `GET /notifications/events/`", "docs/dashboards.md"
)

# A notification as the bell shows it (alerts.inbox): an alert that fired (kind "alert", with the rule,
# its name and state; this person's notification id is null for someone who was no member when it
# fired), a mention or a reply (kind "mention" | "reply", `link` to the sheet's comment), or access
# given (kind "invitation": made a member, a sheet shared).
NOTIFICATION = named(
    "notification",
    Record(
        id=nullable(INT),
        workspace=INT,
        kind=literal("alert", "mention", "reply", "invitation"),
        rule=nullable(INT),
        message=STR,
        value=nullable(NUMBER),
        link=STR,
        created_at=STR,
        read_at=nullable(STR),
        rule_name=optional(STR),
        state=optional(STR),
    ),
)

DASHBOARD_FRAMES.register(
    "welcome", "first frame", workspace=INT, access=named("access", literal("view", "edit", "manage", "own"))
)
DASHBOARD_FRAMES.register("subscribed", "the widget ids now watched", widgets=ListOf(STR))
DASHBOARD_FRAMES.register(
    "data",
    "one widget's data: `result` (the REST aggregate's shape) or `error` (a message); `at` (ISO) when it was"
    " computed, `as_of_ms` (epoch ms) when its computation started",
    widget=STR,
    at=STR,
    as_of_ms=INT,
    result=optional(JSON),
    error=optional(STR),
)
DASHBOARD_FRAMES.register("notification", "an alert fired", notification=NOTIFICATION)
DASHBOARD_FRAMES.register("pong", "answer to `ping`: `t` as sent", t=JSON)
DASHBOARD_FRAMES.register(
    "error",
    "a frame was refused; `access_revoked` and flooding close the socket",
    code=STR,
    message=STR,
    frame=optional(STR),
    field=optional(STR),
    retry_after=optional(NUMBER),
)
DASHBOARD_FRAMES.register(
    "revoked", "(Server-Sent Events only) access is gone: the stream ends", code=literal("access_revoked"), message=STR
)

NOTIFICATION_EVENTS.register("welcome", "first event: the workspaces whose notifications come", workspaces=ListOf(INT))
NOTIFICATION_EVENTS.register(
    "notification",
    "an alert fired, you were mentioned or replied to, or given access",
    notification=NOTIFICATION,
)
