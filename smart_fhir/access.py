"""What a validated access token allows: scopes, launch context, and who it was issued to."""

from __future__ import annotations

from dataclasses import dataclass, field

from smart_auth.scopes import ResourceScope, resource_scopes


def _normalize(url: str) -> str:
    return (url or "").rstrip("/")


@dataclass
class TokenAccess:
    """A validated token. ``claims`` are the JWT claims or the introspection response."""

    claims: dict
    base_url: str
    issuer: str = ""
    scopes: list[ResourceScope] = field(default_factory=list)
    expires_at: float = 0.0
    grant_cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_claims(cls, claims: dict, base_url: str, issuer: str = "") -> TokenAccess:
        return cls(
            claims=claims,
            base_url=_normalize(base_url),
            issuer=issuer or claims.get("iss", ""),
            scopes=resource_scopes(str(claims.get("scope", ""))),
            expires_at=float(claims.get("exp") or 0),
        )

    @property
    def client_id(self) -> str:
        return str(self.claims.get("client_id") or "")

    @property
    def subject(self) -> str:
        return str(self.claims.get("sub") or "")

    @property
    def fhir_user(self) -> str:
        return str(self.claims.get("fhirUser") or "")

    @property
    def patient(self) -> str:
        """This server's patient: the ``authorization_details`` entry for our base, else ``patient``."""
        for detail in self.claims.get("authorization_details") or []:
            if not isinstance(detail, dict) or detail.get("type") != "smart_on_fhir":
                continue
            locations = {_normalize(u) for u in detail.get("locations") or [] if isinstance(u, str)}
            if self.base_url in locations and detail.get("patient"):
                return str(detail["patient"])
        return str(self.claims.get("patient") or "")

    @property
    def is_backend(self) -> bool:
        """A backend-services token: no user and no launch context (SMART Backend Services)."""
        return (
            not self.fhir_user
            and not self.patient
            and bool(self.client_id)
            and self.subject == self.client_id
        )


class TokenUser:
    """``request.user`` for a token-authenticated FHIR request (not a Django user)."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False

    def __init__(self, access: TokenAccess):
        self.access = access
        self.pk = None
        self.username = access.subject

    def __str__(self):
        return self.access.fhir_user or self.access.subject
