"""Live dashboards: a person's layouts (layouts.py), live pushes and recomputation (live.py), the
dashboard WebSocket (consumers.py), the layout, widget and Server-Sent Events views (views.py), and
the receivers that push when data arrives (receivers.py)."""
