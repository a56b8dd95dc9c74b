"""What the realtime app stores: one stamp per user, changed whenever anything that decides the
user's access changes (see realtime.revocation)."""

from django.db import models


class AccessStamp(models.Model):
    """A random number that changes, in the same transaction, with every change of the user's
    access: a membership, a share, an API token, a logout, the password, deactivation.

    A live connection remembers the stamp it saw when it last checked its access; before a write
    of the connection is applied, one query for the stamps of the batch's users tells whether
    any of them must be checked again. That is what makes a write sent after a revocation fail
    even when it overtakes the announcement on the channel layer.

    `user_id` is a plain number, not a foreign key: the stamp is written while a user is being
    deleted (their memberships go first), and a stale row of a deleted user is harmless."""

    user_id = models.BigIntegerField(primary_key=True)
    stamp = models.BigIntegerField()

    def __str__(self):
        return f"access stamp of user {self.user_id}"
