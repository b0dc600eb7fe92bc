"""Pre-mint the single-use state the token benchmarks consume, straight into a deployment's DB.

Run with the deployment's environment (DJANGO_SETTINGS_MODULE, SANDBOX_DATA_DIR, DATABASE_URL,
SANDBOX_EHR_URL) after ``sandbox --only ehr`` has migrated and seeded it:

    python benchmarks/prepare_state.py --codes 8000 --refresh 8000 > state.json

* authorization codes: DOT ``Grant`` rows plus ``smart_auth.GrantContext``, exactly what the
  authorize endpoint stores after consent (PKCE S256 challenge, nonce, audience, launch context);
* refresh tokens: the rows a code exchange leaves behind (``AccessToken``, ``RefreshToken`` of a
  new token family, ``smart_auth.TokenContext``), tokens hashed at rest like DOT stores them.

Prints ``{"redirect_uri", "codes": [[code, verifier], ...], "refresh": [token, ...]}``. The
measured operation is the token endpoint, not the consent screen, so minting these through
the browser flow would only make the setup slow.
"""

import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
import uuid
from datetime import timedelta
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox_project.settings.ehr")

APP_ID = "sandbox-demo-app"
SCOPE = "openid fhirUser offline_access launch/patient patient/*.rs"


def challenge_of(verifier):
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--codes", type=int, default=0)
    parser.add_argument("--refresh", type=int, default=0)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone
    from oauth2_provider.models import (
        get_access_token_model,
        get_application_model,
        get_grant_model,
        get_refresh_token_model,
    )

    from smart_auth.hooks import fhir_user
    from smart_auth.models import GrantContext, SmartUser, TokenContext

    Grant, AccessToken, RefreshToken = get_grant_model(), get_access_token_model(), get_refresh_token_model()
    app = get_application_model().objects.get(client_id=APP_ID)
    user = get_user_model().objects.get(username="clinician")
    patient_ref = SmartUser.objects.get(user__username="patient").fhir_user
    patient = patient_ref.split("/", 1)[1]
    redirect_uri = app.redirect_uris.split()[0]
    audience = [f"{settings.BASE_URL}/fhir"]
    context = {"patient": patient, "need_patient_banner": True}
    expires = timezone.now() + timedelta(hours=2)
    out = {"redirect_uri": redirect_uri, "codes": [], "refresh": []}

    with transaction.atomic():
        grants = []
        for _ in range(args.codes):
            code, verifier = secrets.token_urlsafe(30), secrets.token_urlsafe(48)
            out["codes"].append([code, verifier])
            grants.append(
                Grant(
                    user=user,
                    application=app,
                    code=code,
                    expires=expires,
                    redirect_uri=redirect_uri,
                    scope=SCOPE,
                    code_challenge=challenge_of(verifier),
                    code_challenge_method="S256",
                    nonce=secrets.token_urlsafe(8),
                    resource=audience,
                )
            )
        Grant.objects.bulk_create(grants, batch_size=500)
        by_code = {}
        codes = [c for c, _ in out["codes"]]
        for i in range(0, len(codes), 500):
            by_code.update(Grant.objects.filter(code__in=codes[i : i + 500]).values_list("code", "pk"))
        GrantContext.objects.bulk_create(
            [GrantContext(grant_id=by_code[c], context=context) for c in codes], batch_size=500
        )

        identity = {"iss": f"{settings.BASE_URL}/o", "sub": str(user.pk), "fhirUser": fhir_user(user)}
        access_tokens, raw_refresh = [], []
        for _ in range(args.refresh):
            access_tokens.append(
                AccessToken(
                    user=user,
                    application=app,
                    token="",
                    token_checksum=hashlib.sha256(secrets.token_urlsafe(32).encode()).hexdigest(),
                    expires=expires,
                    scope=SCOPE,
                    resource=audience,
                )
            )
            raw_refresh.append(secrets.token_urlsafe(30))
        AccessToken.objects.bulk_create(access_tokens, batch_size=500)
        checksums = [a.token_checksum for a in access_tokens]
        at_pk = {}
        for i in range(0, len(checksums), 500):
            at_pk.update(
                AccessToken.objects.filter(token_checksum__in=checksums[i : i + 500]).values_list(
                    "token_checksum", "pk"
                )
            )
        refresh_rows, contexts = [], []
        rt_fields = {f.name for f in RefreshToken._meta.get_fields()}
        for checksum, raw in zip(checksums, raw_refresh, strict=True):
            family = uuid.uuid4()
            extra = {"resource": audience} if "resource" in rt_fields else {}
            refresh_rows.append(
                RefreshToken(
                    user=user,
                    application=app,
                    token="",
                    token_checksum=hashlib.sha256(raw.encode()).hexdigest(),
                    access_token_id=at_pk[checksum],
                    token_family=family,
                    **extra,
                )
            )
            contexts.append(
                TokenContext(
                    access_token_id=at_pk[checksum], token_family=family, context=context, identity=identity
                )
            )
        RefreshToken.objects.bulk_create(refresh_rows, batch_size=500)
        TokenContext.objects.bulk_create(contexts, batch_size=500)
        out["refresh"] = raw_refresh
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
