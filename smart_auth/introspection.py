"""SMART token introspection (RFC 7662 + SMART 2.2 "Token Introspection").

Who may see what (RFC 7662 §2.1, §4: the server decides which protected resources may learn about
which tokens):

- a *designated resource server* (a client registered with the ``introspection`` scope, calling
  with its credentials or with a bearer token carrying that scope) sees every token, and its
  introspection is what consumes a single-use launch-token (the imaging server at the EHR);
- any other authenticated confidential client sees only the tokens issued to itself, and never a
  launch-token (it would use it up for the server the token is meant for);
- in-process callers (``caller=None``: smart_fhir, fhircast_hub) see access tokens, never
  launch-tokens: a launch-token is no access token and showing one to them must not use it up.
"""

import calendar
import hashlib
import re
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from .hooks import issuer_for


CONTEXT_KEYS = (
    "patient",
    "encounter",
    "fhirContext",
    "need_patient_banner",
    "smart_style_url",
    "intent",
    "tenant",
    "fhirUser",
    "authorization_details",
    "consent",
)


@dataclass(frozen=True)
class Caller:
    """An authenticated caller of the introspection endpoint."""

    client_id: str
    designated: bool  # a designated resource server: sees every token, consumes launch-tokens


INTROSPECTION_SCOPE = "introspection"


def is_designated(application):
    """Whether ``application`` is registered as a resource server (``introspection`` scope)."""
    smart = getattr(application, "smart", None)  # None for a plain DOT client
    return smart is not None and INTROSPECTION_SCOPE in (smart.allowed_scopes or "").split()


def checksum(token_value):
    """The ``token_checksum`` DOT stores for a token value (SHA-256, hex)."""
    return hashlib.sha256(token_value.encode("utf-8")).hexdigest()


# What introspection and the bearer check read of an access token: plain values, no model
# instances (building four instances and compiling the ORM query cost more than the query).
ROW_FIELDS = (
    "token_checksum",
    "scope",
    "expires",
    "created",
    "resource",
    "user_id",
    "application_id",
    "application__client_id",
    "application__smart__software_id",
    "application__smart__enabled",
    "smart__context",
    "smart__identity",
    "smart__jti",
)
_FORMAT_PLACEHOLDER = re.compile(r"(?<!%)%s")  # as django.db.backends.sqlite3.base reads them
_SENTINELS = ("0" * 64, "1" * 64)  # stand-ins for the two checksums while the query compiles


@dataclass(frozen=True)
class _Plan:
    """The access-token query, compiled once per database connection by Django's own compiler:
    its SQL, where the two checksums go among its parameters, and its column converters."""

    sql: str
    params: object  # a tuple, or a dict for "pyformat" placeholders
    slots: tuple
    names: tuple
    compiler: object
    converters: dict


# Kept on the connection object it was compiled for (its converters are bound to that
# connection's operations), so that it lives and goes with it: one per thread's connection.
_PLAN_ATTRIBUTE = "_smart_auth_token_rows_plan"


def _username_key():
    return "user__" + get_user_model().USERNAME_FIELD


def _plan(alias, connection, names=None, attribute=_PLAN_ATTRIBUTE):
    plan = getattr(connection, attribute, None)
    if plan is None:
        queryset = (
            get_access_token_model()
            .objects.using(alias)
            .filter(token_checksum__in=_SENTINELS)
            .values(*(names or (*ROW_FIELDS, _username_key())))
        )
        query = queryset.query
        if query.extra_select or query.annotation_select:  # values() would name columns otherwise
            raise ImproperlyConfigured("The access-token model's manager adds columns to its queries")
        compiler = query.get_compiler(using=alias, connection=connection)
        sql, params = compiler.as_sql()
        params = tuple(params)
        slots = tuple(params.index(sentinel) for sentinel in _SENTINELS)
        if connection.vendor == "sqlite":
            # Django's SQLite cursor rewrites "format" placeholders (%s) to "?" with a regular
            # expression over the whole statement on every execute; "pyformat" ones (%(p0)s)
            # it maps with one %-substitution. Same statement, same parameters, named once here.
            numbers = iter(range(len(params)))
            sql = _FORMAT_PLACEHOLDER.sub(lambda match: f"%(p{next(numbers)})s", sql)
            if next(numbers, None) is not None:
                raise ImproperlyConfigured("The access-token query has unexpected placeholders")
            params = {f"p{i}": value for i, value in enumerate(params)}
            slots = tuple(f"p{slot}" for slot in slots)
        names = tuple(query.values_select)
        if len(names) != compiler.col_count:
            raise ImproperlyConfigured("The access-token query selects other columns than asked")
        fields = [column[0] for column in compiler.select[: compiler.col_count]]
        converters = compiler.get_converters(fields)
        plan = _Plan(sql, params, slots, names, compiler, converters)
        setattr(connection, attribute, plan)
    return plan


def token_rows(*token_values):
    """The rows of ``ROW_FIELDS`` (and ``user__<USERNAME_FIELD>``) of the access tokens with these
    values (at most two), keyed by checksum: one SELECT, whatever rows it finds.

    Exactly what ``AccessToken.objects.filter(token_checksum__in=...).values(...)`` returns, read
    fresh from the database on every call (no caching: a revoked token is gone at once).
    """
    return _rows(token_values, None, _PLAN_ATTRIBUTE)


def _rows(token_values, names, attribute):
    checksums = [checksum(value) for value in token_values if value]
    if not checksums:
        return {}
    if len(checksums) > len(_SENTINELS):
        raise ValueError("token_rows() reads at most two tokens")
    model = get_access_token_model()
    alias = router.db_for_read(model)
    connection = connections[alias]
    plan = _plan(alias, connection, names, attribute)
    params = plan.params.copy() if isinstance(plan.params, dict) else list(plan.params)
    for i, slot in enumerate(plan.slots):  # one token: its checksum in both places
        params[slot] = checksums[min(i, len(checksums) - 1)]
    with connection.cursor() as cursor:
        cursor.execute(plan.sql, params)
        rows = cursor.fetchall()
    if plan.converters:
        rows = plan.compiler.apply_converters(rows, plan.converters)
    names = plan.names
    found = (dict(zip(names, row, strict=True)) for row in rows)
    return {row["token_checksum"]: row for row in found}


# What decides whether an access token is active (see _is_active), and nothing else.
LIVENESS_FIELDS = ("token_checksum", "expires", "application__smart__enabled")


def is_active(token_value):
    """Whether :func:`introspect` would answer ``active: true`` for this access token to an
    in-process caller (smart_fhir re-checks a token it has cached this way on every request):
    the same rule, read with one narrow SELECT instead of the response's five tables."""
    if not token_value or token_value.startswith("lt_"):
        return False
    row = _rows((token_value,), LIVENESS_FIELDS, "_smart_auth_liveness_plan").get(checksum(token_value))
    return _is_active(row)


def _is_active(row):
    # Same rule as AccessToken.is_valid(): revoked tokens are deleted, so only expiry is left;
    # and a disabled client's tokens stop with it (fail closed).
    if row is None or not row["expires"] or timezone.now() >= row["expires"]:
        return False
    return row["application__smart__enabled"] is not False


def introspect(token_value, request=None, caller=None, rows=None):
    """The introspection response for ``token_value``; ``{"active": False}`` and nothing else
    for an unknown, expired or revoked token, or one ``caller`` may not see.

    ``rows``: what ``token_rows()`` already read in this request, if it read this token.
    """
    if not token_value:
        return {"active": False}
    if token_value.startswith("lt_"):
        from .launch_tokens import introspect as introspect_launch_token

        if caller is None or not caller.designated:
            return {"active": False}  # not theirs to see, nor to use up
        return introspect_launch_token(token_value, issuer_for(request) if request else None) or {
            "active": False
        }
    key = checksum(token_value)
    if rows is None or key not in rows:
        rows = token_rows(token_value)
    row = rows.get(key)
    if row is not None and caller is not None and not caller.designated:
        if row["application__client_id"] != caller.client_id:
            row = None  # its own tokens only
    if not _is_active(row):
        return {"active": False}
    return _response(row, request)


def _response(row, request):
    context = row["smart__context"] or {}
    identity = row["smart__identity"] or {}
    client_id = row["application__client_id"]
    data = {
        "active": True,
        "scope": row["scope"],
        "client_id": client_id,
        "exp": int(calendar.timegm(row["expires"].utctimetuple())),
        "iat": int(calendar.timegm(row["created"].utctimetuple())),
        "token_type": "Bearer",
        "iss": issuer_for(request) if request is not None else identity.get("iss"),
        "sub": str(row["user_id"]) if row["user_id"] is not None else client_id,
    }
    if row["user_id"] is not None:
        data["username"] = row[_username_key()]
    resource = row["resource"]
    if resource:
        data["aud"] = resource[0] if len(resource) == 1 else list(resource)
    for key in CONTEXT_KEYS:
        if context.get(key) not in (None, "", []):
            data[key] = context[key]
    data.update(identity)  # iss/sub/fhirUser of the id_token issued with this token
    if row["application__smart__software_id"]:
        data["software_id"] = row["application__smart__software_id"]  # RFC 7591: the app across servers
    if row["smart__jti"]:
        data["jti"] = row["smart__jti"]
    return {k: v for k, v in data.items() if v is not None}
