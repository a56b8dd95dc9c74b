"""What the write-through announces. Producers never import their consumers: alerts and live
dashboards connect receivers to these (analytics/alerts/receivers.py, analytics/dashboards/receivers.py)."""

from django.dispatch import Signal

# New data of these sheets was committed to the lake. Sent from the worker's announcer thread, after
# the commit, with `applied`: {sheet id: workspace id}.
cells_written = Signal()

# The worker's periodic moment, every ANALYTICS["ALERT_INTERVAL"] seconds: receivers re-check what
# changes with time alone (an alert rule's window moves when no data comes). `between()` announces
# the sheets applied meanwhile: call it between long steps, so a long pass holds nothing back.
periodic_pass_due = Signal()
