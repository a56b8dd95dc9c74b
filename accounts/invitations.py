"""Access by e-mail address: adding a workspace member (sharing a sheet with an address is
sheets.sharing, on the same rules).

Two threats. Someone signs up with an address that is not theirs (a colleague's) and waits for
it to be invited: access by e-mail therefore reaches an account only through an address that
account has verified (allauth's EmailAddress, verified), and otherwise waits, as an Invitation,
until an account verifies it. And someone with the right to invite probes which addresses have
accounts: the answer is the same whether or not an account has the address, verified or not.

With ACCOUNT_EMAIL_VERIFICATION = "none" (the development default: nobody can verify) an
account's own address counts as verified. Production runs with "mandatory".
"""

from django.conf import settings
from django.db import transaction

from core.errors import PermissionDenied

from . import signals
from .models import Invitation, Membership, Role, User, Workspace
from .services import check_role, membership_set

ANSWER = (
    "If an account has verified this address, it has access now; if not, access starts when one does. "
    "The answer is the same either way."
)


def normalize(email: str | None) -> str:
    return (email or "").strip().lower()


def verification_required() -> bool:
    return settings.ACCOUNT_EMAIL_VERIFICATION != "none"


def verified_addresses(user: User) -> set[str]:
    """The addresses through which `user` may be given access (lower case)."""
    if not user.is_active:
        return set()
    if not verification_required():
        return {normalize(user.email)}
    from allauth.account.models import EmailAddress

    return {normalize(e) for e in EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)}


def verified_account(email: str | None) -> User | None:
    """The active account that has verified `email`, or None (also when an account has the address
    but has not verified it)."""
    email = normalize(email)
    if not verification_required():
        return User.objects.filter(email__iexact=email, is_active=True).first()
    from allauth.account.models import EmailAddress

    address = (
        EmailAddress.objects.filter(email__iexact=email, verified=True, user__is_active=True)
        .select_related("user")
        .first()
    )
    return address.user if address else None


@transaction.atomic
def invite_member(
    *, workspace: Workspace, email: str | None, role: str, by_role: Role | None, invited_by: User | None = None
) -> dict[str, str]:
    """Give `email` a role in the workspace: now when an account has verified it, else when one does.
    Refusals depend on the role asked and on who asks, never on the address."""
    role = check_role(role)
    if role == Role.OWNER and by_role != Role.OWNER:
        raise PermissionDenied("only an owner can grant or take the owner role")
    email = normalize(email)
    account = verified_account(email)
    if account is not None:
        membership_set(workspace=workspace, email=account.email, role=role, by_role=by_role)
        Invitation.objects.filter(workspace=workspace, email=email).delete()
    else:
        Invitation.objects.update_or_create(
            workspace=workspace, email=email, defaults={"role": role, "invited_by": invited_by}
        )
    return {"email": email, "role": role.value, "detail": ANSWER}


def claim_invitations(user: User) -> int:
    """Grant `user` what is waiting for the addresses it has verified; returns how many. Called when
    an address is confirmed, at sign-up and at login. Sheet invitations are claimed by sheets, which
    receives signals.addresses_verified."""
    addresses = verified_addresses(user)
    if not addresses:
        return 0
    with transaction.atomic():
        waiting = list(
            Invitation.objects.select_for_update(of=("self",)).filter(email__in=addresses, workspace__isnull=False)
        )
        for invitation in waiting:
            # A member already keeps the role they have.
            Membership.objects.get_or_create(
                workspace_id=invitation.workspace_id, user=user, defaults={"role": invitation.role}
            )
            invitation.delete()
        answers = signals.addresses_verified.send(sender=User, user=user, addresses=addresses)
    return len(waiting) + sum(claimed or 0 for _, claimed in answers)


def _on_email_confirmed(request, email_address, **kwargs):
    claim_invitations(email_address.user)


def _on_signed_up(request, user, **kwargs):
    claim_invitations(user)


def _on_logged_in(sender, request, user, **kwargs):
    claim_invitations(user)


def connect_signals() -> None:
    from allauth.account.signals import email_confirmed, user_signed_up
    from django.contrib.auth.signals import user_logged_in

    email_confirmed.connect(_on_email_confirmed, dispatch_uid="gridcast-invitations-email-confirmed")
    user_signed_up.connect(_on_signed_up, dispatch_uid="gridcast-invitations-signed-up")
    user_logged_in.connect(_on_logged_in, dispatch_uid="gridcast-invitations-logged-in")
