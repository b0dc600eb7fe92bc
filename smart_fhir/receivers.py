"""Forget cached token checks as soon as the local smart_auth revokes a token (same process; every
process also reads a local token's row on each request, ``tokens.TokenValidator.validate``)."""

from django.db.models.signals import post_delete


def connect():
    from oauth2_provider.models import get_access_token_model

    post_delete.connect(
        _token_deleted, sender=get_access_token_model(), dispatch_uid="smart_fhir_token_deleted"
    )


def _token_deleted(sender, instance, **kwargs):
    from .tokens import get_validator

    checksum = getattr(instance, "token_checksum", None)
    if checksum:
        get_validator().evict(checksum)
