"""Per person and per kind of notification (mentions, replies, alerts, invitations): in the app, by
e-mail, both or none. Read by whoever notifies (analytics for the bell and its e-mails, accounts for
invitations); written here only.

Defaults keep what Gridcast did before preferences existed, and what people expect of a comment
tool: a mention comes both ways (someone asked for you), a reply and an alert ring the bell (alerts
have their own e-mail contact points), an invitation is an e-mail (it carries the link to accept).

Invitations: the choice is honoured for a person who already has an account: access given at once
(made a member, a sheet shared) rings the bell when they hear of invitations in the app, and its
e-mail goes only when they hear of them by e-mail; an invitation by link to a workspace (not a member
yet: no bell of theirs shows it) is e-mailed or not as chosen, and joined at their next login, which
claims every invitation to a verified address. An address without an account has no preferences and
always gets the e-mail: "none" is a choice its owner has not made."""

from django.db import transaction

from core.errors import InvalidInput

from .models import NotificationPreference, User

Kind = NotificationPreference.Kind
Channel = NotificationPreference.Channel

DEFAULTS = {
    Kind.MENTION: Channel.BOTH,
    Kind.REPLY: Channel.IN_APP,
    Kind.ALERT: Channel.IN_APP,
    Kind.INVITATION: Channel.EMAIL,
}
IN_APP = {Channel.IN_APP, Channel.BOTH}
BY_EMAIL = {Channel.EMAIL, Channel.BOTH}


def preferences_of(user: User) -> dict[str, str]:
    """Every kind's channel for `user` (the defaults where they chose nothing)."""
    chosen = dict(NotificationPreference.objects.filter(user=user).values_list("kind", "channel"))
    return {kind.value: chosen.get(kind.value, DEFAULTS[kind].value) for kind in Kind}


def channels_for(user_ids: list[int], kind: str) -> dict[int, str]:
    """user id -> channel of `kind`, for each of `user_ids`, in one query."""
    chosen = dict(
        NotificationPreference.objects.filter(user_id__in=user_ids, kind=kind).values_list("user_id", "channel")
    )
    return {user_id: chosen.get(user_id, DEFAULTS[Kind(kind)].value) for user_id in user_ids}


def wants_in_app(channel: str) -> bool:
    return channel in IN_APP


def wants_email(channel: str) -> bool:
    return channel in BY_EMAIL


def _checked(changes: object) -> dict[str, str]:
    """{kind: channel} as asked, or InvalidInput naming the first thing wrong (nothing is saved)."""
    if not isinstance(changes, dict) or not changes:
        raise InvalidInput('give an object of kind -> channel, e.g. {"mention": "email"}')
    kinds, channels = ", ".join(Kind.values), ", ".join(Channel.values)
    for kind, channel in changes.items():
        if kind not in Kind.values:
            raise InvalidInput(f"unknown kind {str(kind)[:40]!r}: the kinds are {kinds}", field=str(kind)[:40])
        if not isinstance(channel, str) or channel not in Channel.values:
            raise InvalidInput(f"{kind}: the channel is one of {channels}", field=kind)
    return changes


@transaction.atomic
def preferences_set(*, user: User, changes: object) -> dict[str, str]:
    """Set the channels of the kinds named in `changes`; the others keep theirs. Returns all of them."""
    for kind, channel in _checked(changes).items():
        NotificationPreference.objects.update_or_create(user=user, kind=kind, defaults={"channel": channel})
    return preferences_of(user)
