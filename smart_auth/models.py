"""SMART data kept beside django-oauth-toolkit's models (never a swapped model).

SmartClient holds the SMART client metadata of a DOT Application; LaunchContext is an EHR-launch
handle; GrantContext and TokenContext carry the launch context from the authorization code to the
tokens it yields; UsedAssertion remembers private_key_jwt `jti`s; AuditEvent records every
issuance, refusal and revocation.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from oauth2_provider.settings import oauth2_settings


def _random_handle():
    return secrets.token_urlsafe(32)


class SmartClient(models.Model):
    """SMART metadata of one DOT Application (one row per client)."""

    AUTH_NONE = "none"
    AUTH_BASIC = "client_secret_basic"
    AUTH_POST = "client_secret_post"
    AUTH_PRIVATE_KEY_JWT = "private_key_jwt"
    AUTH_METHODS = [
        (AUTH_NONE, _("Public client (no authentication)")),
        (AUTH_BASIC, _("Client secret (HTTP Basic)")),
        (AUTH_POST, _("Client secret (form body)")),
        (AUTH_PRIVATE_KEY_JWT, _("Asymmetric key (private_key_jwt)")),
    ]

    application = models.OneToOneField(
        oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE, related_name="smart"
    )
    token_endpoint_auth_method = models.CharField(max_length=32, choices=AUTH_METHODS, default=AUTH_NONE)
    grant_types = models.JSONField(default=list, blank=True, help_text=_("OAuth grant types (RFC 7591)."))
    launch_uri = models.URLField(max_length=500, blank=True)
    logo_uri = models.URLField(max_length=500, blank=True)
    software_id = models.CharField(
        max_length=255,
        blank=True,
        db_index=True,
        help_text=_("Registrations of one app at several servers share it (or, without one, the client_id)."),
    )
    jwks = models.JSONField(null=True, blank=True, help_text=_("Inline JWK Set (discouraged)."))
    jwks_uri = models.URLField(max_length=500, blank=True, help_text=_("JWK Set URL (preferred)."))
    allowed_scopes = models.TextField(
        blank=True,
        help_text=_("Space-separated SMART scopes this client may be granted (wildcards allowed)."),
    )
    allowed_audiences = models.JSONField(
        default=list,
        blank=True,
        help_text=_("FHIR base URLs this client may ask for; empty: every governed one."),
    )
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("SMART client")
        verbose_name_plural = _("SMART clients")

    def __str__(self):
        return f"{self.application.name} ({self.application.client_id})"

    @property
    def is_asymmetric(self):
        return self.token_endpoint_auth_method == self.AUTH_PRIVATE_KEY_JWT

    def allows_grant(self, grant_type):
        return grant_type in (self.grant_types or [])

    def clean(self):
        from django.core.exceptions import ValidationError

        from . import scopes as smart_scopes
        from .registration import GRANT_TYPES, validate_jwks
        from .resources import is_valid_resource_uri

        errors = {}
        if self.jwks:
            try:
                validate_jwks(self.jwks)
            except ValidationError as exc:
                errors["jwks"] = exc.messages
        if self.is_asymmetric and not (self.jwks or self.jwks_uri):
            errors["jwks_uri"] = [_("An asymmetric client needs a JWKS URL or an inline JWK Set.")]
        try:
            smart_scopes.parse_scopes(self.allowed_scopes)
        except smart_scopes.ScopeError as exc:
            errors["allowed_scopes"] = [str(exc)]
        unknown = set(self.grant_types or []) - GRANT_TYPES
        if unknown:
            errors["grant_types"] = [_("Unsupported grant types: %s") % ", ".join(sorted(unknown))]
        bad = [a for a in self.allowed_audiences or [] if not is_valid_resource_uri(a)]
        if bad:
            errors["allowed_audiences"] = [_("Not absolute URIs: %s") % ", ".join(bad)]
        if errors:
            raise ValidationError(errors)


class SmartUser(models.Model):
    """Links a Django user to the FHIR resource that represents them (``fhirUser``)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="smart")
    fhir_user = models.CharField(
        max_length=255, help_text=_("Relative reference, e.g. Practitioner/123 or Patient/abc.")
    )

    def __str__(self):
        return f"{self.user} → {self.fhir_user}"

    @property
    def patient_id(self):
        kind, _, ident = self.fhir_user.partition("/")
        return ident if kind == "Patient" else None


class LaunchContext(models.Model):
    """An EHR launch handle: the context one app receives for one launch."""

    handle = models.CharField(max_length=64, unique=True, default=_random_handle)
    application = models.ForeignKey(oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    patient = models.CharField(max_length=64, blank=True)
    encounter = models.CharField(max_length=64, blank=True)
    fhir_context = models.JSONField(default=list, blank=True)
    intent = models.CharField(max_length=255, blank=True)
    need_patient_banner = models.BooleanField(default=True)
    smart_style_url = models.URLField(max_length=500, blank=True)
    tenant = models.CharField(max_length=255, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    used = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"launch {self.handle[:8]}… for {self.application_id}"

    def is_usable(self):
        return self.used is None and self.expires > timezone.now()

    def as_context(self):
        """The launch parameters of a token response (SMART 2.2 "Launch context")."""
        ctx = {"need_patient_banner": self.need_patient_banner}
        for key, value in (
            ("patient", self.patient),
            ("encounter", self.encounter),
            ("intent", self.intent),
            ("smart_style_url", self.smart_style_url),
            ("tenant", self.tenant),
        ):
            if value:
                ctx[key] = value
        if self.fhir_context:
            ctx["fhirContext"] = self.fhir_context
        return ctx

    @classmethod
    def default_expiry(cls):
        from .conf import smart_auth_settings

        return timezone.now() + timedelta(seconds=smart_auth_settings.LAUNCH_EXPIRE_SECONDS)


class LaunchToken(models.Model):
    """A multi-server launch-token: the current patient/user context of one app, handed to
    another authorization server, which introspects it here (once)."""

    token_checksum = models.CharField(max_length=64, unique=True)
    application = models.ForeignKey(oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    context = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    consumed = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"launch-token for {self.application_id}"


class GrantContext(models.Model):
    """Launch context chosen at the authorization endpoint, waiting for the code exchange."""

    grant = models.OneToOneField(oauth2_settings.GRANT_MODEL, on_delete=models.CASCADE, related_name="smart")
    context = models.JSONField(default=dict, blank=True)

    def __str__(self):
        return f"context of grant {self.grant_id}"


class TokenContext(models.Model):
    """Launch context and identity claims of one access token (for introspection and refresh)."""

    # SET_NULL: a revoked access token leaves the context for its refresh-token family.
    access_token = models.OneToOneField(
        oauth2_settings.ACCESS_TOKEN_MODEL, null=True, on_delete=models.SET_NULL, related_name="smart"
    )
    token_family = models.UUIDField(null=True, blank=True, db_index=True)
    context = models.JSONField(default=dict, blank=True)
    # iss/sub/fhirUser of the id_token issued with the token (SMART introspection).
    identity = models.JSONField(default=dict, blank=True)
    jti = models.CharField(max_length=64, db_index=True, blank=True)

    def __str__(self):
        return f"context of token {self.access_token_id}"


class UsedAssertion(models.Model):
    """A private_key_jwt ``jti`` seen for an issuer, kept until the assertion expires."""

    issuer = models.CharField(max_length=255)
    jti = models.CharField(max_length=255)
    expires = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "jti"], name="smart_auth_unique_jti")]

    def __str__(self):
        return f"{self.issuer} jti {self.jti}"


class AuditEvent(models.Model):
    """One security-relevant outcome of the authorization server."""

    ISSUED = "issued"
    REFUSED = "refused"
    REVOKED = "revoked"
    LAUNCH = "launch"
    OUTCOMES = [
        (ISSUED, _("issued")),
        (REFUSED, _("refused")),
        (REVOKED, _("revoked")),
        (LAUNCH, _("launch")),
    ]

    created = models.DateTimeField(auto_now_add=True, db_index=True)
    outcome = models.CharField(max_length=16, choices=OUTCOMES)
    action = models.CharField(max_length=64, help_text=_("authorize, token, refresh, introspect, …"))
    client_id = models.CharField(max_length=255, blank=True, db_index=True)
    user = models.CharField(max_length=255, blank=True)
    patient = models.CharField(max_length=64, blank=True)
    scope = models.TextField(blank=True)
    audience = models.JSONField(default=list, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"{self.created:%Y-%m-%d %H:%M:%S} {self.action} {self.outcome} {self.client_id}"


class RedeemedCode(models.Model):
    """An exchanged authorization code, so that a replay revokes what it issued (RFC 6749 §4.1.2)."""

    code_checksum = models.CharField(max_length=64, unique=True)
    access_token = models.ForeignKey(
        oauth2_settings.ACCESS_TOKEN_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    token_family = models.UUIDField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self):
        return f"redeemed code {self.code_checksum[:8]}…"


class ClientRegistryGeneration(models.Model):
    """One row counting changes to client registrations (see smart_auth.client_registry)."""

    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("client registry generation")

    def __str__(self):
        return str(self.value)
