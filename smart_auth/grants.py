"""The grant behind a local access token, and whether it still stands.

For state that a token authorized and that outlives the request, such as a FHIRcast
subscription: it must end when the grant is revoked, but not when a refresh rotates the token
(the rotation deletes the old access token too).

A grant is kept as two values, in two columns of the holder's table:

* the refresh-token family, for a token issued with a refresh token. The grant stands while one
  of the family's refresh tokens is live and still paired with an access token. Revoking the
  refresh token (RFC 7009), revoking the family (DOT's reuse detection, a replayed authorization
  code), revoking the access token alone (RFC 7009) or deleting the client ends it. A rotation
  does not: it makes the new pair in the transaction that retires the old one.
* otherwise the access token's checksum. The grant stands while the access token exists
  (revocation deletes it).

Expiry is not part of it: whoever holds such state bounds it by the token's ``exp`` already.
"""

from dataclasses import dataclass
from uuid import UUID

from django.db.models import Exists, OuterRef, Q
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from .introspection import checksum


@dataclass(frozen=True)
class Grant:
    family: UUID | None  # the refresh-token family, when there is one
    token_checksum: str  # the access token's checksum when there is no family, else ""


def grant_of(token_value):
    """The :class:`Grant` of a local access token, or None for a value that names none
    (unknown, revoked, or a launch-token). One query."""
    if not token_value or token_value.startswith("lt_"):
        return None
    key = checksum(token_value)
    found = (
        get_access_token_model()
        .objects.filter(token_checksum=key)
        .values_list("pk", "smart__token_family")
        .first()
    )
    if found is None:
        return None
    return Grant(found[1], "") if found[1] else Grant(None, key)


def revoked_condition(family_field, token_field):
    """A ``Q`` for the rows of a holder's table whose grant, kept in ``family_field`` and
    ``token_field``, no longer stands: one query finds them all, however many there are. Rows
    with neither value (no grant recorded) never match."""
    family_standing = get_refresh_token_model().objects.filter(
        token_family=OuterRef(family_field), revoked__isnull=True, access_token__isnull=False
    )
    token_standing = get_access_token_model().objects.filter(token_checksum=OuterRef(token_field))
    has_family = Q(**{f"{family_field}__isnull": False})
    has_token = Q(**{f"{family_field}__isnull": True}) & ~Q(**{token_field: ""})
    return (has_family & ~Exists(family_standing)) | (has_token & ~Exists(token_standing))
