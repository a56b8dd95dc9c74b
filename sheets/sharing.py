"""Sharing one sheet with an e-mail address, on the rules of accounts.invitations: access reaches
an account only through an address it has verified, and the answer never says whether one has."""

from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from accounts import audit, signals
from accounts.invitations import ANSWER, email_wanted, normalize, verified_account
from accounts.models import Invitation, User
from core.errors import InvalidInput

from .models import Sheet
from .services import sheet_share


@transaction.atomic
def share_sheet(
    *, sheet: Sheet, email: str, level: str | None, invited_by: User | None = None, sheet_url: str | None = None
) -> dict:
    """Share one sheet with `email` ("view", "edit"; None stops sharing): now when an account has
    verified the address, else when one does. The address is told by e-mail, with `sheet_url` (when
    given), whether or not it has an account: signing up or logging in with it opens the sheet.
    Stopping reaches the address's account whether or not it verified it."""
    if level not in ("view", "edit", None):
        raise InvalidInput('level must be "view", "edit" or null')
    email = normalize(email)
    account = verified_account(email)
    if level is None:
        Invitation.objects.filter(sheet=sheet, email=email).delete()
        for user in {*User.objects.filter(email__iexact=email), *([account] if account else [])}:
            sheet_share(sheet=sheet, user=user, level=None)
    elif account is not None:
        sheet_share(sheet=sheet, user=account, level=level)
        Invitation.objects.filter(sheet=sheet, email=email).delete()
        who = invited_by.label if invited_by else "Someone"
        signals.invited.send(
            sender=Sheet,
            user_id=account.pk,
            workspace_id=sheet.workspace_id,
            sheet_id=sheet.pk,
            message=f"{who} shared the sheet {sheet.name} with you: you can {level} it",
            link=reverse("sheet", args=[sheet.pk]),
            emailed=True,  # _tell's e-mail, after the commit
        )
    else:
        Invitation.objects.update_or_create(
            sheet=sheet, email=email, defaults={"level": level, "invited_by": invited_by}
        )
    if level is None:
        audit.record("sheet.unshared", workspace=sheet.workspace_id, target=sheet, email=email)
    else:
        audit.record("sheet.shared", workspace=sheet.workspace_id, target=sheet, email=email, level=level)
    if level is not None and sheet_url:
        transaction.on_commit(lambda: _tell(sheet, email, level, invited_by, sheet_url))
    return {"email": email, "level": level, "detail": ANSWER}


def _tell(sheet: Sheet, email: str, level: str, invited_by: User | None, sheet_url: str) -> None:
    if not email_wanted(email):
        return  # an account that hears of invitations in the app only (or not at all)
    who = invited_by.label if invited_by else "Someone"
    can = "edit" if level == "edit" else "view"
    send_mail(
        subject=f"{who} shared the sheet {sheet.name} with you on Gridcast",
        message=(
            f"{who} shared the sheet {sheet.name} with you on Gridcast: you can {can} it.\n\n"
            f"Open it: {sheet_url}\n\n"
            f"Sign up or log in with this address ({email}) to open it."
        ),
        from_email=None,
        recipient_list=[email],
    )


def claim_sheet_invitations(sender: object, user: User, addresses: set[str], **kwargs: object) -> int:
    """accounts.signals.addresses_verified: the sheets waiting for these addresses are shared now."""
    waiting = list(
        Invitation.objects.select_for_update(of=("self",))
        .filter(email__in=addresses, sheet__isnull=False)
        .select_related("sheet")
    )
    for invitation in waiting:
        sheet_share(sheet=invitation.sheet, user=user, level=invitation.level)
        invitation.delete()
    return len(waiting)
