"""Models of the analytics app."""

from .models_alerts import *  # noqa: F401,F403  (metric alerts: AlertRule, Notification)
from .models_dashboard import *  # noqa: F401,F403  (live dashboards: DashboardLayout)
from .models_deliveries import *  # noqa: F401,F403  (webhooks and the delivery log)
from .models_superset import *  # noqa: F401,F403
