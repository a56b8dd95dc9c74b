"""What accounts announce; other apps subscribe (accounts never import them)."""

from django.dispatch import Signal

# user, addresses: an account has verified these addresses (lower case), inside the transaction
# that claims what waits for them; a receiver returns how many invitations it claimed.
addresses_verified = Signal()

# workspace: about to be deleted, inside the deletion's transaction, its row locked; a receiver
# locks what it owns there (as its own writers lock it) so that writes under way end first.
workspace_deleting = Signal()

# user_id, workspace_id, sheet_id (or None), message, link, emailed: someone was given access (made a
# member, or a sheet shared with their account), inside the transaction that gives it; the inbox turns
# it into an "invitation" notification as they chose (an e-mail too unless `emailed`: the sender's own).
invited = Signal()
