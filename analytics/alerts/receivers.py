"""Alert rules follow the data: each alert source's rules are evaluated when its producer announces
new data (sources.py names the signal), and every rule on the worker's periodic pass; and comments'
mentions and replies reach the inbox. Connected by AnalyticsConfig.ready(); the producers
(analytics.metrics, analytics.writethrough, sheets) know nothing of alerts."""

import logging
from collections.abc import Callable

from accounts.signals import invited
from analytics.writethrough.signals import periodic_pass_due
from sheets.signals import comment_posted

from . import evaluation, inbox
from .sources import SOURCES, AlertSource

log = logging.getLogger(__name__)


def _receiver(source: AlertSource) -> Callable[..., None]:
    def on_announced(sender: object, **announced: object) -> None:
        announced.pop("signal", None)
        try:
            evaluation.rules_announced(source, **announced)
        except Exception:  # what was announced is stored whatever happens to an alert
            log.exception("alert rules of source %s not evaluated", source.name)

    return on_announced


def on_periodic_pass(sender: object, *, between: Callable[[], object] | None = None, **kwargs: object) -> None:
    """Every enabled rule: a metric window moves with time, so a rule must fire when data stops."""
    try:
        evaluation.rules_evaluate_all(between=between)
    except Exception:
        log.exception("periodic evaluation of alert rules failed")


def connect() -> None:
    for source in SOURCES.values():
        source.announced_by.connect(_receiver(source), weak=False, dispatch_uid=f"analytics.alerts.{source.name}")
    periodic_pass_due.connect(on_periodic_pass, dispatch_uid="analytics.alerts.periodic_pass_due")
    # Inside the comment's transaction: its notifications are committed with it or not at all.
    comment_posted.connect(inbox.on_comment_posted, dispatch_uid="analytics.alerts.comment_posted")
    invited.connect(inbox.on_invited, dispatch_uid="analytics.alerts.invited")
