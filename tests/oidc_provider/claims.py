"""The claims the test provider gives: the user's e-mail address and whether it is verified (a
user in the group VERIFIED has a verified address, others do not)."""

from oauth2_provider.oauth2_validators import OAuth2Validator

VERIFIED = "email-verified"


class Validator(OAuth2Validator):
    def get_additional_claims(self, request):
        user = request.user
        return {
            "email": user.email,
            "email_verified": user.groups.filter(name=VERIFIED).exists(),
            "name": user.get_full_name() or user.username,
            "preferred_username": user.username,
        }
