"""Metric events: validation and durable ingestion (ingest.py, announcing signals.metrics_ingested),
the rollups (rollup.py), and their tables in the lake (schema.py)."""
