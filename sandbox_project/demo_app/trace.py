"""An HTTP client for the demo app that records every request and response of a flow.

Tokens are redacted in the recorded copy and JWTs are shown decoded, so the protocol trace can
be read by a person without leaking credentials.
"""

import json
import re
import time

import jwt
import requests


_JWT_RE = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
_SECRET_KEYS = (
    "access_token",
    "refresh_token",
    "id_token",
    "launch_token",
    "client_assertion",
    "code",
    "subject_token",
)


def redact(value):
    if len(value) <= 12:
        return "…"
    return f"{value[:6]}…{value[-4:]}"


def decode_jwts(text):
    claims = []
    for token in _JWT_RE.findall(text or ""):
        try:
            claims.append(
                {
                    "header": jwt.get_unverified_header(token),
                    "claims": jwt.decode(token, options={"verify_signature": False}),
                }
            )
        except jwt.PyJWTError:
            continue
    return claims


def _redact_text(text):
    return _JWT_RE.sub(lambda m: redact(m.group(0)), text or "")


def _redact_mapping(data):
    return {
        k: (redact(v) if k in _SECRET_KEYS and isinstance(v, str) else v) for k, v in (data or {}).items()
    }


class TracedSession:
    def __init__(self, trace):
        self.trace = trace
        self.http = requests.Session()

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", 10)
        started = time.perf_counter()
        response = self.http.request(method, url, **kwargs)
        elapsed = (time.perf_counter() - started) * 1000
        body = response.text
        try:
            shown = json.dumps(_redact_mapping(response.json()), indent=2)[:4000]
        except ValueError:
            shown = _redact_text(body)[:1500]
        self.trace.append(
            {
                "kind": "server",
                "method": method,
                "url": url,
                "request": _redact_mapping(kwargs.get("data") or kwargs.get("params") or {}),
                "status": response.status_code,
                "response": shown,
                "jwts": decode_jwts(body) + decode_jwts(json.dumps(kwargs.get("data") or {})),
                "ms": round(elapsed, 1),
            }
        )
        return response

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url, **kwargs):
        return self.request("POST", url, **kwargs)


def browser_step(trace, description, url):
    """Record a step the browser takes (a redirect the app sends it on)."""
    trace.append(
        {
            "kind": "browser",
            "method": "GET",
            "url": _redact_text(url),
            "request": {},
            "status": 302,
            "response": description,
            "jwts": [],
            "ms": 0,
        }
    )
