"""Access by e-mail address: adding a workspace member (sharing a sheet with an address is
sheets.sharing, on the same rules).

Two threats. Someone signs up with an address that is not theirs (a colleague's) and waits for
it to be invited: access by e-mail therefore reaches an account only through an address that
account has verified (allauth's EmailAddress, verified), and otherwise waits, as an Invitation,
until an account verifies it. And someone with the right to invite probes which addresses have
accounts: the answer is the same whether or not an account has the address, verified or not.

With ACCOUNT_EMAIL_VERIFICATION = "none" (the development default: nobody can verify) an
account's own address counts as verified. Production runs with "mandatory". With single sign-on
only (SOCIALACCOUNT_ONLY) addresses are verified by the provider alone (its email_verified claim,
kept by allauth as a verified EmailAddress), as with "mandatory".
"""

import datetime as dt
from collections.abc import Callable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from core.errors import GridcastError, NotFound, PermissionDenied

from . import audit, notification_preferences, signals
from .models import Invitation, Membership, Role, User, Workspace
from .services import grantable_role, membership_set

ANSWER = (
    "If an account has verified this address, it has access now; if not, access starts when one does. "
    "The answer is the same either way."
)


def normalize(email: str | None) -> str:
    return (email or "").strip().lower()


def verification_required() -> bool:
    return settings.ACCOUNT_EMAIL_VERIFICATION != "none" or settings.SOCIALACCOUNT_ONLY


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
    role = grantable_role(role, by_role)
    email = normalize(email)
    account = verified_account(email)
    if account is not None:
        membership_set(workspace=workspace, email=account.email, role=role, by_role=by_role)
        Invitation.objects.filter(workspace=workspace, email=email).delete()
        who = invited_by.label if invited_by else "Someone"
        signals.invited.send(
            sender=Membership,
            user_id=account.pk,
            workspace_id=workspace.pk,
            sheet_id=None,
            message=f"{who} added you to the workspace {workspace.name} as {role.value}",
            link="/",
            emailed=False,
        )
    else:
        Invitation.objects.update_or_create(
            workspace=workspace, email=email, defaults={"role": role, "invited_by": invited_by}
        )
        audit.record("invitation.sent", workspace=workspace, target=email, role=role.value, by="address")
    return {"email": email, "role": role.value, "detail": ANSWER}


def _join(invitation: Invitation, user: User) -> Membership:
    """`user` joins the invitation's workspace (a member keeps the role they have). An e-mailed
    invitation is kept as accepted (its link then says so), one that waited for an address is done."""
    membership, _ = Membership.objects.get_or_create(
        workspace_id=invitation.workspace_id, user=user, defaults={"role": invitation.role}
    )
    audit.record(
        "invitation.accepted",
        actor=user,
        workspace=invitation.workspace_id,
        target=invitation.email,
        role=membership.role,
    )
    if invitation.key_hash:
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
    else:
        invitation.delete()
    return membership


def claim_invitations(user: User) -> int:
    """Grant `user` what is waiting for the addresses it has verified; returns how many. Called when
    an address is confirmed, at sign-up and at login. Sheet invitations are claimed by sheets, which
    receives signals.addresses_verified."""
    addresses = verified_addresses(user)
    if not addresses:
        return 0
    with transaction.atomic():
        waiting = list(
            Invitation.objects.select_for_update(of=("self",))
            .filter(email__in=addresses, workspace__isnull=False, accepted_at__isnull=True)
            .filter(_still_valid())
        )
        for invitation in waiting:
            _join(invitation, user)
        answers = signals.addresses_verified.send(sender=User, user=user, addresses=addresses)
    return len(waiting) + sum(claimed or 0 for _, claimed in answers)


# --- invitations sent by e-mail, with a link ------------------------------------------------------


class InvitationExpired(GridcastError):
    code = "invitation_expired"
    status = 410


def _expiry() -> dt.datetime:
    return timezone.now() + dt.timedelta(days=settings.GRIDCAST["INVITATION_DAYS"])


def _still_valid() -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())


def links_for(request: HttpRequest) -> Callable[[str], str]:
    """The absolute URL of an invitation's link on the site the request came to."""
    return lambda key: request.build_absolute_uri(reverse("invitation-accept", args=[key]))


def email_wanted(email: str) -> bool:
    """Whether the invitation's e-mail goes out: always to an address without an account (it has no
    preferences), else as its owner chose for invitations (accounts.notification_preferences)."""
    account = verified_account(email)
    if account is None:
        return True
    channel = notification_preferences.channels_for([account.pk], notification_preferences.Kind.INVITATION)
    return notification_preferences.wants_email(channel[account.pk])


def _send_link(invitation: Invitation, key: str, accept_url: Callable[[str], str]) -> None:
    inviter = invitation.invited_by.label if invitation.invited_by else "Someone"
    link = accept_url(key)
    # Kept from the e-mail by its owner's choice, it is "sent" all the same: the inviter must not learn
    # that the address has an account. They join at their next login (claim_invitations).
    if email_wanted(invitation.email):
        _mail_link(invitation, inviter, link)
    invitation.sent_at = timezone.now()
    invitation.save(update_fields=["sent_at"])


def _mail_link(invitation: Invitation, inviter: str, link: str) -> None:
    send_mail(
        subject=f"{inviter} invited you to {invitation.workspace.name} on Gridcast",
        message=(
            f"{inviter} invited you to the workspace {invitation.workspace.name} on Gridcast as {invitation.role}.\n\n"
            f"Accept the invitation: {link}\n\n"
            f"Sign up or log in with this address ({invitation.email}) to join. "
            f"The link works until {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
        ),
        from_email=None,
        recipient_list=[invitation.email],
    )


@transaction.atomic
def invitation_send(
    *,
    workspace: Workspace,
    email: str,
    role: str,
    by_role: Role | None,
    invited_by: User,
    accept_url: Callable[[str], str],
) -> Invitation:
    """A pending invitation of `email` to the workspace with `role`, e-mailed with its link; the same
    whether or not an account has the address (an invitation to the same address is renewed: new
    link, new expiry). Accepted by the link, or by signing up or logging in with the address verified."""
    role = grantable_role(role, by_role)
    invitation, _ = Invitation.objects.update_or_create(
        workspace=workspace,
        email=normalize(email),
        defaults={"role": role, "invited_by": invited_by, "expires_at": _expiry(), "accepted_at": None},
    )
    key = invitation.new_key()
    invitation.save(update_fields=["key_hash"])
    audit.record("invitation.sent", workspace=workspace, target=invitation.email, role=role.value, by="link")
    transaction.on_commit(lambda: _send_link(invitation, key, accept_url))
    return invitation


@transaction.atomic
def invitation_resend(*, invitation: Invitation, accept_url: Callable[[str], str]) -> Invitation:
    """A new link (the old one stops working) and a new expiry, e-mailed again."""
    key = invitation.new_key()
    invitation.expires_at = _expiry()
    invitation.save(update_fields=["key_hash", "expires_at"])
    audit.record(
        "invitation.sent", workspace=invitation.workspace_id, target=invitation.email, role=invitation.role, resent=True
    )
    transaction.on_commit(lambda: _send_link(invitation, key, accept_url))
    return invitation


@transaction.atomic
def invitation_revoke(*, invitation: Invitation) -> None:
    audit.record("invitation.revoked", workspace=invitation.workspace_id, target=invitation.email, role=invitation.role)
    invitation.delete()


def workspace_invitation(workspace: Workspace, invitation_id: int) -> Invitation:
    invitation = Invitation.objects.filter(workspace=workspace, pk=invitation_id).first()
    if invitation is None:
        raise NotFound("invitation not found")
    return invitation


@transaction.atomic
def invitation_accept(*, key: str, user: User) -> Membership:
    """Join the workspace of the invitation whose link carries `key`, as `user`, who must have
        verified the invited address. Opened again by the member it made, the link says so; by anyone
    else, that it was used. A member keeps the role they have."""
    invitation = Invitation.find(key)
    if invitation is None or invitation.workspace_id is None:
        raise NotFound("this invitation link does not work: it was revoked or mistyped")
    if invitation.accepted_at is not None:
        membership = Membership.objects.filter(workspace_id=invitation.workspace_id, user=user).first()
        if membership is None:
            raise NotFound("this invitation was accepted already")
        return membership
    if invitation.expired:
        raise InvitationExpired("this invitation has expired: ask for a new one")
    if normalize(invitation.email) not in verified_addresses(user):
        raise PermissionDenied(
            "this invitation is for another e-mail address: log in with the address it was sent to "
            "(and verify it), then open the link again"
        )
    return _join(invitation, user)


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
