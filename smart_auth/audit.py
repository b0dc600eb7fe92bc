"""Audit records of issuance, refusal and revocation (readable in the admin)."""

import logging


log = logging.getLogger("smart_auth.audit")


def record(outcome, action, *, client_id="", user="", patient="", scope="", audience=None, detail=""):
    from .models import AuditEvent

    AuditEvent.objects.create(
        outcome=outcome,
        action=action,
        client_id=client_id or "",
        user=str(user or ""),
        patient=patient or "",
        scope=scope or "",
        audience=list(audience or []),
        detail=detail[:2000],
    )
    # Refusals at WARNING: they are what an operator looks for when a client cannot get in.
    level = logging.WARNING if outcome == "refused" else logging.INFO
    log.log(level, "%s %s client=%s user=%s %s", action, outcome, client_id, user, detail)
