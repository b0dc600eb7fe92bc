"""The test deployment before its signing key exists (the README's step 3 not yet run)."""

from smart_auth.presets import read_signing_key
from tests.settings import full


globals().update({k: v for k, v in vars(full).items() if k.isupper()})
OAUTH2_PROVIDER = {**full.OAUTH2_PROVIDER, "OIDC_RSA_PRIVATE_KEY": read_signing_key("/nonexistent/key.pem")}
