"""What sheets announce, after the transaction that did it commits. The realtime side (and anyone
else) subscribes; sheets never import their consumers."""

from django.dispatch import Signal

# operations: [(Operation, origin connection or None)], in version order, all of one sheet.
operations_committed = Signal()

# sheet_id: a sheet and everything in it are gone.
sheet_deleted = Signal()

# sheet_id, view_id, event ("created" | "changed" | "deleted"), shared, owner_id: a saved view changed.
view_changed = Signal()
