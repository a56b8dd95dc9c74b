"""The lake: DuckDB connections to Gridcast's DuckLake (connections.py), the sheet lake's tables and
views, their names and DDL (schema.py), the flock that serialises writers of a SQLite catalog
(connections.write_lock), and the upkeep of the lake's files (maintenance.py). Imports no other
part of analytics."""
