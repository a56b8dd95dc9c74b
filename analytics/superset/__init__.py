"""Gridcast's side of Apache Superset: its generated config (config.py), the REST client (client.py),
provisioning (provisioning.py), the background sync that follows sheet changes (sync.py, receivers.py),
guest tokens (guest_tokens.py, api.py) and the dashboard page's embedding (embedding.py)."""
