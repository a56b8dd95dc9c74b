"""allauth's security key (WebAuthn) forms, with a forged or garbled browser answer refused as an
incorrect code (400-free form error) instead of a 500: allauth parses the credential JSON with
fido2, which raises KeyError, ValueError, AttributeError... on input a browser never sends.
Installed by MFA_FORMS (config/settings/base.py)."""

from allauth.mfa.adapter import get_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.webauthn import forms

_MALFORMED = (KeyError, ValueError, TypeError, AttributeError, IndexError)


def _refused() -> Exception:
    return get_adapter().validation_error("incorrect_code")


class AddSecurityKeyForm(forms.AddWebAuthnForm):
    def clean(self) -> dict:
        try:
            return super().clean()
        except _MALFORMED:
            raise _refused() from None


class _CheckedCredential:
    def clean_credential(self) -> Authenticator:
        try:
            return super().clean_credential()
        except _MALFORMED:
            raise _refused() from None


class AuthenticateSecurityKeyForm(_CheckedCredential, forms.AuthenticateWebAuthnForm):
    pass


class LoginSecurityKeyForm(_CheckedCredential, forms.LoginWebAuthnForm):
    pass


class ReauthenticateSecurityKeyForm(_CheckedCredential, forms.ReauthenticateWebAuthnForm):
    pass
