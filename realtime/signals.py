"""Access changes reach live connections: whoever changes a membership, a sheet share or a
user (API, admin or shell), that user's connections look again at what they may do."""
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from guardian.models import UserObjectPermission

from accounts.models import Membership, User

from .layers import group_send


def access_changed(user_id):
    transaction.on_commit(lambda: group_send(f"user.{user_id}", {"type": "access.changed"}))


@receiver([post_save, post_delete], sender=Membership)
def _membership_changed(sender, instance, **kwargs):
    access_changed(instance.user_id)


@receiver([post_save, post_delete], sender=UserObjectPermission)
def _share_changed(sender, instance, **kwargs):
    access_changed(instance.user_id)


@receiver(post_save, sender=User)
def _user_changed(sender, instance, created, update_fields=None, **kwargs):
    if not created and (update_fields is None or "is_active" in update_fields):
        access_changed(instance.pk)
