"""Every write to a sheet, its columns and its rows (reads are in sheets.selectors).

Each service is one transaction: it validates, takes the next sheet version (which locks the
sheet row, so writes to one sheet are serialized), writes, and appends its Operation through
operations.operations_append, which announces it after the commit. A resent `op_id` returns the
original Operation without applying anything twice. This package's facade: callers import the
services from here; the modules inside are split by what they change.
"""

from .cells import Edit, cells_update, cells_update_many
from .columns import column_add, column_delete, column_move, column_rename, column_retype
from .imports import ImportPlan, import_plan, rows_import
from .operations import operation
from .paste import NothingPasted, Pasted, cells_paste
from .restore import sheet_restore
from .rows import rows_delete, rows_insert, rows_move
from .sheets import sheet_create, sheet_delete, sheet_rename, sheet_share

__all__ = [
    "Edit",
    "cells_update",
    "cells_update_many",
    "cells_paste",
    "NothingPasted",
    "Pasted",
    "column_add",
    "column_delete",
    "column_move",
    "column_rename",
    "column_retype",
    "operation",
    "ImportPlan",
    "import_plan",
    "rows_import",
    "rows_delete",
    "rows_insert",
    "rows_move",
    "sheet_create",
    "sheet_delete",
    "sheet_rename",
    "sheet_restore",
    "sheet_share",
]
