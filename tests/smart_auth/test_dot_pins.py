"""Pins on the few pieces of django-oauth-toolkit that smart_auth re-applies instead of calling.

Each one exists for speed (a query or a signature fewer per token request; see
benchmarks/README.md). When DOT changes one of these originals, its rule may have changed too:
the test names the copy to re-read, and the hash is updated only after the copy matches again.
"""

import hashlib
import inspect

import pytest
from oauth2_provider.models import AbstractAccessToken, AbstractRefreshToken
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.views import TokenView


PINNED = {
    # DOT original: (sha256 prefix of its source, our copy that re-applies it)
    "OAuth2Validator.validate_code": (
        "7c0d04cfdf75a27f",
        "SmartOAuth2Validator.validate_code (on the Grant loaded once per exchange)",
    ),
    "OAuth2Validator.get_authorization_code_scopes": (
        "53c4f795f10b3afd",
        "SmartOAuth2Validator.get_authorization_code_scopes",
    ),
    "OAuth2Validator.confirm_redirect_uri": ("96af690d40013206", "SmartOAuth2Validator.confirm_redirect_uri"),
    "OAuth2Validator.get_code_challenge": ("1dfc26e1ae3c9227", "SmartOAuth2Validator.get_code_challenge"),
    "OAuth2Validator.get_code_challenge_method": (
        "a7b09d76e43c2e32",
        "SmartOAuth2Validator.get_code_challenge_method",
    ),
    "OAuth2Validator.get_authorization_code_nonce": (
        "d3b7e7749e0175e6",
        "SmartOAuth2Validator.get_authorization_code_nonce",
    ),
    "OAuth2Validator._check_and_set_request_resource": (
        "83be546872406c2c",
        "SmartOAuth2Validator._check_and_set_request_resource (the code-exchange branch)",
    ),
    "OAuth2Validator.finalize_id_token": (
        "fda062f4b8116e47",
        "SmartOAuth2Validator.finalize_id_token (RS256 clients: signed with PyJWT)",
    ),
    "OAuth2Validator._create_access_token": (
        "b9b36b168ac8ba46",
        "SmartOAuth2Validator._create_access_token (no id_token, or the one just issued)",
    ),
    "OAuth2Validator._save_id_token": ("fc3dac719d350eee", "SmartOAuth2Validator._save_id_token"),
    "OAuth2Validator._create_refresh_token": (
        "eca3713cacfd672b",
        "SmartOAuth2Validator._create_refresh_token (the branch with the family chosen)",
    ),
    "OAuth2Validator.invalidate_authorization_code": (
        "71143192a5cd413d",
        "SmartOAuth2Validator._redeem_code (the Grant validate_code loaded)",
    ),
    "OAuth2Validator.validate_refresh_token": (
        "50e7ceb3ce23bfec",
        "SmartOAuth2Validator.validate_refresh_token (a live token, read with its user and client)",
    ),
    "OAuth2Validator._save_bearer_token": (
        "bbf80b89d0b56459",
        "SmartOAuth2Validator._rotate (the rotating refresh of a live token)",
    ),
    "AbstractRefreshToken.revoke": ("bb264f58c4f57543", "smart_auth.oauth2.rotation.retire"),
    "AbstractAccessToken.revoke": ("e21f619fb75714c3", "smart_auth.oauth2.rotation.retire"),
    "TokenView.authorization_flow_token_response": (
        "82abd9808f7a9178",
        "SmartTokenView.authorization_flow_token_response (no app_authorized listener)",
    ),
}

_OWNERS = {
    "OAuth2Validator": OAuth2Validator,
    "TokenView": TokenView,
    "AbstractAccessToken": AbstractAccessToken,
    "AbstractRefreshToken": AbstractRefreshToken,
}


@pytest.mark.parametrize("original", sorted(PINNED))
def test_dot_original_is_the_one_our_copy_was_written_from(original):
    owner, name = original.split(".")
    source = inspect.getsource(getattr(_OWNERS[owner], name))
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    expected, copy = PINNED[original]
    assert digest == expected, (
        f"django-oauth-toolkit changed {original}: re-read {copy} against it, then update the pin"
    )
