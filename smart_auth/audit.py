"""Audit records of issuance, refusal and revocation (readable in the admin)."""

import functools
import logging

from . import compiled


log = logging.getLogger("smart_auth.audit")


@functools.cache
def _column_limit(model, name):
    return model._meta.get_field(name).max_length


def record(outcome, action, *, client_id="", user="", patient="", scope="", audience=None, detail=""):
    from .models import AuditEvent

    fields = {
        "outcome": outcome,
        "action": action,
        "client_id": client_id or "",
        "user": str(user or ""),
        "patient": patient or "",
        "scope": scope or "",
        "detail": detail[:2000],
    }
    # Values come from the request (a client_id, a grant_type): cut to their columns, which
    # PostgreSQL enforces, so that recording a refusal can never fail the request.
    for name, value in fields.items():
        limit = _column_limit(AuditEvent, name)
        if limit and len(value) > limit:
            fields[name] = value[: limit - 1] + "…"
    compiled.insert(AuditEvent(audience=list(audience or []), **fields))
    # Refusals at WARNING: they are what an operator looks for when a client cannot get in.
    level = logging.WARNING if outcome == "refused" else logging.INFO
    log.log(level, "%s %s client=%s user=%s %s", action, outcome, client_id, user, detail)
