"""Issue an access token from server-side code (no OAuth request): for the authorization
server's own calls (the patient resolver) and for the host EHR's own pages (the FHIRcast demo).
The token is a JWT like any other and is recorded by DOT, so introspection and revocation work."""

import secrets
import time
from datetime import timedelta

from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model, set_token_value

from .models import TokenContext


def internal_application(client_id, name):
    """A confidential Application standing for this server itself (made on first use)."""
    Application = get_application_model()
    application, _ = Application.objects.get_or_create(
        client_id=client_id,
        defaults={
            "name": name,
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_CLIENT_CREDENTIALS,
            "client_secret": secrets.token_urlsafe(32),
        },
    )
    return application


def issue_access_token(application, *, scope, audience, issuer, user=None, lifetime=300, context=None):
    from .hooks import TOKEN_CLAIM_KEYS
    from .oauth2.tokens import sign

    now = int(time.time())
    context = dict(context or {})
    claims = {
        "iss": issuer,
        "sub": str(user.pk) if user is not None else application.client_id,
        "aud": audience[0] if len(audience) == 1 else list(audience),
        "client_id": application.client_id,
        "scope": scope,
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_urlsafe(16),
        **{k: v for k, v in context.items() if k in TOKEN_CLAIM_KEYS and v},
    }
    value = sign(claims, typ="at+jwt")
    token = get_access_token_model()(
        application=application,
        user=user,
        scope=scope,
        expires=timezone.now() + timedelta(seconds=lifetime),
        resource=list(audience),
    )
    set_token_value(token, value)
    token.save()
    TokenContext.objects.create(access_token=token, context=context, jti=claims["jti"])
    return value
