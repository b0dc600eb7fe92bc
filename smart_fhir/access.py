"""What a validated access token allows: scopes, launch context, and who it was issued to."""

from __future__ import annotations

from dataclasses import dataclass, field

from smart_auth.scopes import ResourceScope, resource_scopes


FULL_URL_ROLE = "launch-full-url"


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
    # Issued by this deployment's own smart_auth: a relative ``fhirUser`` names a resource here.
    local: bool = False
    grant_cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_claims(cls, claims: dict, base_url: str, issuer: str = "", local: bool = False) -> TokenAccess:
        return cls(
            claims=claims,
            base_url=_normalize(base_url),
            issuer=issuer or claims.get("iss", ""),
            scopes=resource_scopes(str(claims.get("scope", ""))),
            expires_at=float(claims.get("exp") or 0),
            local=local,
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
    def local_fhir_user(self) -> str:
        """``fhirUser`` as a reference to a resource of this server (``Patient/x``), or "".

        A relative reference in another issuer's token names a resource of *that* issuer's
        server (multi-server draft; SMART 2.2 ``fhirUser``), never one of ours; an absolute one
        is ours only under our base URL.
        """
        reference = self.fhir_user
        if "://" in reference:
            prefix = self.base_url + "/"
            return reference[len(prefix) :] if reference.startswith(prefix) else ""
        return reference if self.local else ""

    @property
    def patient(self) -> str:
        """This server's patient.

        A token for several servers (several ``aud``, or ``authorization_details``) names the
        patient per server: its ``authorization_details`` entry for our base, else a
        ``launch-full-url`` ``fhirContext`` reference under our base. A server it names no
        patient for gets none: the top-level ``patient`` may be another server's id.
        """
        details = [
            d
            for d in self.claims.get("authorization_details") or []
            if isinstance(d, dict) and d.get("type") == "smart_on_fhir"
        ]
        audiences = self.claims.get("aud")
        if not details and not (isinstance(audiences, list) and len(audiences) > 1):
            return str(self.claims.get("patient") or "")
        for detail in details:
            locations = {_normalize(u) for u in detail.get("locations") or [] if isinstance(u, str)}
            if self.base_url in locations:
                return str(detail.get("patient") or "")
        prefix = self.base_url + "/Patient/"
        for item in self.claims.get("fhirContext") or []:
            if not isinstance(item, dict) or item.get("role") != FULL_URL_ROLE:
                continue
            reference = item.get("reference")
            if isinstance(reference, str) and reference.startswith(prefix):
                ident = reference[len(prefix) :]
                return ident if ident and "/" not in ident else ""
        return ""

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
