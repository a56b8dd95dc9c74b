"""What accounts announce; other apps subscribe (accounts never import them)."""

from django.dispatch import Signal

# user, addresses: an account has verified these addresses (lower case), inside the transaction
# that claims what waits for them; a receiver returns how many invitations it claimed.
addresses_verified = Signal()
