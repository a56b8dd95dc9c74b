"""Reads of analytics: metric aggregates, the workspace's metric list and exports, sheet aggregates
over a sheet's lake view, the shape of a widget's query, and the sheet view's selectors."""
