"""A sheet's outgoing webhooks: the rows it inserted, updated and deleted, POSTed as signed JSON to
URLs its owners and admins give (services.py, api.py), queued after each commit (events.py) and sent,
retried and logged by the worker's one sender of deliveries (analytics/deliveries/)."""
