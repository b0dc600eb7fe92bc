"""The JWKS cache (SMART 2.2 "cache per Cache-Control, never longer"), over real HTTP."""

from smart_auth.jwks import JWKSCache
from tests.conftest import ClientKey, JWKSServer


def test_unknown_kids_do_not_hammer_the_issuer():
    server = JWKSServer()
    try:
        server.jwks = ClientKey("RS384").jwks
        cache = JWKSCache(min_refetch_interval=60)
        cache.get(server.url)
        for _ in range(20):
            cache.get(server.url, kid="made-up-kid")
        assert server.hits == 1
        cache.min_refetch_interval = 0
        cache.get(server.url, kid="made-up-kid")
        assert server.hits == 2
    finally:
        server.close()


def test_max_age_is_capped():
    cache = JWKSCache(max_cache_seconds=100)
    assert cache._lifetime("public, max-age=86400") == 100
    assert cache._lifetime("no-store") == 0
    assert cache._lifetime("max-age=30") == 30
