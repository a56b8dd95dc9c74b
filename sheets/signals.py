"""What sheets announce, after the transaction that did it commits. The realtime side (and anyone
else) subscribes; sheets never import their consumers."""

from django.dispatch import Signal

# operations: [(Operation, origin connection or None)], in version order, all of one sheet.
operations_committed = Signal()

# sheet_id: a sheet and everything in it are gone.
sheet_deleted = Signal()

# sheet_id, view_id, event ("created" | "changed" | "deleted"), shared, owner_id: a saved view changed.
view_changed = Signal()

# sheet_id, event ("created" | "changed" | "deleted" | "resolved" | "reopened"), comment (its dict,
# sheets.comments.comment_dict; as it was, for "deleted"), deleted_ids (the comments gone with it):
# after the commit, for the sheet's live connections.
comment_changed = Signal()

# comment (Comment), mentioned (ids of the people newly mentioned), replied (ids of the thread's
# earlier writers, for a reply): sent INSIDE the transaction that writes the comment, so that
# the notifications a receiver writes are committed with it or not at all.
comment_posted = Signal()
