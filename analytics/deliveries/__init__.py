"""Deliveries to contact points (webhooks, e-mails): queued in the database by whoever has news
(queue.py), sent, retried with backoff and logged by the worker (sender.py). Owners of contact points
(alert rules today, sheet webhooks next) render their messages; this package only carries them."""
