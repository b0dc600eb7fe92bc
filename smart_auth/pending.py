"""The typed pending authorization: an authorization request between its arrival and its
outcome, kept server-side in the session under a random key (the forms carry only the key).

Public: extensions of the authorization view (``imaging_consent``, a vendor's own step) read and
change it through the view's hooks; ``extra`` holds what an extension needs to remember (it must
be JSON-serializable, like everything in the session).
"""

import secrets
from dataclasses import asdict, dataclass, field

from django.utils import timezone


SESSION_PREFIX = "smart_auth:pending:"


@dataclass
class PendingAuthorization:
    client_id: str
    # What oauthlib validated (redirect_uri, state, PKCE challenge, nonce, ...): used to create
    # the code and to address error redirects.
    credentials: dict
    scopes: list
    audience: list
    # Launch context for the token response: patient, encounter, fhirUser, fhirContext, ...
    context: dict = field(default_factory=dict)
    launch: str | None = None
    launch_user: int | None = None
    id_token_hint: str | None = None
    created: float = field(default_factory=lambda: timezone.now().timestamp())
    extra: dict = field(default_factory=dict)
    key: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def redirect_uri(self):
        return self.credentials.get("redirect_uri")

    @property
    def state(self):
        return self.credentials.get("state")

    @property
    def patient(self):
        return self.context.get("patient")

    def save(self, request):
        request.session[SESSION_PREFIX + self.key] = asdict(self)

    def discard(self, request):
        request.session.pop(SESSION_PREFIX + self.key, None)

    @classmethod
    def load(cls, request, key):
        """The pending authorization ``key`` of this browser session, or None."""
        data = request.session.get(SESSION_PREFIX + (key or ""))
        try:
            return cls(**data) if isinstance(data, dict) else None
        except TypeError:  # stored by another version of this code: treat as expired
            return None
