"""private_key_jwt client authentication by the SMART asymmetric rules.

Written here because django-oauth-toolkit 3.4.1 has no RFC 7523 client authentication (it is on
DOT's unreleased master, without SMART's `jku` and `typ` rules). SMART App Launch 2.2,
"Client Authentication: Asymmetric (public key)": header `alg` (RS384/ES384 at least), `kid`,
`typ=JWT`, optional `jku` equal to the registered JWKS URL; claims `iss` = `sub` = client_id,
`aud` = token URL, `exp` at most five minutes ahead, `jti` never replayed; exactly one key matches.
Every failure is `invalid_client`.
"""

import functools
import random
from datetime import UTC, datetime

import jwt
from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone

from ..conf import smart_auth_settings
from ..jwks import JWKSCache, JWKSFetchError, select_key


ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW_SECONDS = 30

_jwks_cache = None


def jwks_cache():
    global _jwks_cache
    if _jwks_cache is None:
        _jwks_cache = JWKSCache(
            timeout=smart_auth_settings.JWKS_FETCH_TIMEOUT_SECONDS,
            max_cache_seconds=smart_auth_settings.JWKS_CACHE_MAX_SECONDS,
        )
    return _jwks_cache


class AssertionRejected(Exception):
    """Why an assertion was refused (reported as invalid_client)."""


@functools.lru_cache(maxsize=256)
def _unverified(assertion):
    # One parse per assertion and thread-safe: the token view, its validator and the audit
    # record each need the header or the issuer before the signature is checked.
    try:
        parts = jwt.decode_complete(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        return None, str(exc)
    if not isinstance(parts.get("payload"), dict):
        return None, "the payload is not a JSON object"
    return (parts["header"], parts["payload"]), ""


def unverified_issuer(assertion):
    parsed, _reason = _unverified(assertion) if isinstance(assertion, str) else (None, "")
    issuer = parsed[1].get("iss") if parsed else None
    return issuer if isinstance(issuer, str) else None


def verify_client_assertion(assertion, smart_client, audiences):
    """Verify ``assertion`` for ``smart_client``; return its claims or raise AssertionRejected."""
    parsed, reason = _unverified(assertion)
    if parsed is None:
        raise AssertionRejected(f"client_assertion is not a JWT: {reason}")
    header = parsed[0]
    alg = header.get("alg")
    if alg not in smart_auth_settings.CLIENT_ASSERTION_ALGORITHMS:
        raise AssertionRejected(f"Unsupported client_assertion alg {alg!r}")
    if header.get("typ") != "JWT":
        raise AssertionRejected("client_assertion header typ must be JWT")
    kid = header.get("kid")
    if not kid:
        raise AssertionRejected("client_assertion header has no kid")
    if not smart_client.is_asymmetric:
        raise AssertionRejected("This client is not registered for private_key_jwt")

    jku = header.get("jku")
    if jku is not None and jku != smart_client.jwks_uri:
        raise AssertionRejected("jku does not match the registered JWKS URL")
    if smart_client.jwks_uri:
        try:
            jwks = jwks_cache().get(smart_client.jwks_uri, kid=kid)
        except JWKSFetchError as exc:
            raise AssertionRejected(str(exc)) from exc
    else:
        jwks = smart_client.jwks or {"keys": []}
    key = select_key(jwks, kid, alg)
    if key is None:
        raise AssertionRejected("No single registered key matches the assertion's kid and alg")

    client_id = smart_client.application.client_id
    try:
        claims = jwt.decode(
            assertion,
            key=key,
            algorithms=[alg],
            issuer=client_id,
            leeway=CLOCK_SKEW_SECONDS,
            # aud is checked below, after the signature, to name the expected value.
            options={"require": ["iss", "sub", "aud", "exp", "jti"], "verify_aud": False},
        )
    except jwt.PyJWTError as exc:
        raise AssertionRejected(f"client_assertion rejected: {exc}") from exc
    aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if not {a for a in aud if isinstance(a, str)} & set(audiences):  # StringOrURI values only
        raise AssertionRejected(f"client assertion aud must be {next(iter(audiences))}")
    if claims["sub"] != client_id:
        raise AssertionRejected("client_assertion sub must equal iss (the client_id)")
    now = datetime.now(UTC).timestamp()
    max_lifetime = smart_auth_settings.CLIENT_ASSERTION_MAX_LIFETIME_SECONDS
    if claims["exp"] - now > max_lifetime + CLOCK_SKEW_SECONDS:
        raise AssertionRejected(f"client_assertion exp is more than {max_lifetime} s ahead")
    _remember_jti(client_id, str(claims["jti"]), claims["exp"])
    return claims


def _remember_jti(issuer, jti, exp):
    from ..models import UsedAssertion

    if not jti or len(jti) > 255:
        raise AssertionRejected("client_assertion jti is missing or too long")
    expires = datetime.fromtimestamp(exp + CLOCK_SKEW_SECONDS, tz=UTC)
    if not _record_first_use(UsedAssertion, issuer, jti, expires):
        raise AssertionRejected("client_assertion jti was already used")
    # Expired entries can never match again: prune now and then, off most requests' path.
    if random.random() < 0.02:
        UsedAssertion.objects.filter(
            pk__in=UsedAssertion.objects.filter(expires__lt=timezone.now()).values("pk")[:500]
        ).delete()


def _record_first_use(model, issuer, jti, expires):
    """Record (issuer, jti); False when it was recorded before (by any worker)."""
    db = router.db_for_write(model)
    connection = connections[db]
    if connection.vendor not in ("sqlite", "postgresql"):
        try:
            with transaction.atomic(using=db):
                model.objects.using(db).create(issuer=issuer, jti=jti, expires=expires)
        except IntegrityError:
            return False
        return True
    # Hand-written because the ORM can only say "already there" by raising, which inside the
    # token request's transaction needs a savepoint around the INSERT: three round trips on
    # PostgreSQL instead of this one statement (the unique constraint still decides).
    quote = connection.ops.quote_name
    columns = [quote(model._meta.get_field(name).column) for name in ("issuer", "jti", "expires")]
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) VALUES (%s, %s, %s) "
        f"ON CONFLICT ({columns[0]}, {columns[1]}) DO NOTHING RETURNING {quote(model._meta.pk.column)}"
    )
    expires_value = model._meta.get_field("expires").get_db_prep_save(expires, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [issuer, jti, expires_value])
        return cursor.fetchone() is not None
