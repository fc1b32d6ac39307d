"""A local OAuth authorization server for the sign-in tests: RFC 8414 metadata and a JWKS (an RSA and
an EC key, made here) served over real HTTP on 127.0.0.1, and `mint` to sign access tokens with them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


class Issuer:
    """Signs tokens; `jwks_fetches` counts the key set's downloads; `published` the kids it serves."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # never published
        self.published = ["rsa-1", "ec-1"]
        self.jwks_fetches = 0
        self.url = ""

    def jwks(self) -> dict[str, Any]:
        keys = []
        if "rsa-1" in self.published:
            keys.append(
                {
                    **json.loads(RSAAlgorithm.to_jwk(self.rsa.public_key())),
                    "kid": "rsa-1",
                    "alg": "RS256",
                    "use": "sig",
                }
            )
        if "ec-1" in self.published:
            keys.append(
                {
                    **json.loads(ECAlgorithm.to_jwk(self.ec.public_key())),
                    "kid": "ec-1",
                    "alg": "ES256",
                    "use": "sig",
                }
            )
        return {"keys": keys}

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks.json",
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
        }

    def mint(
        self,
        audience: str,
        *,
        sub: str | None = "alice",
        scope: str | None = "glm:read glm:generate",
        kid: str = "rsa-1",
        key: Any = None,
        algorithm: str | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.url,
            "aud": audience,
            "sub": sub,
            "scope": scope,
            "iat": now,
            "exp": now + 300,
            **claims,
        }
        payload = {name: value for name, value in payload.items() if value is not None}
        signing = key if key is not None else (self.ec if kid == "ec-1" else self.rsa)
        alg = algorithm or ("ES256" if kid == "ec-1" else "RS256")
        return jwt.encode(payload, signing, algorithm=alg, headers={"kid": kid})


def unsigned(payload: dict[str, Any], kid: str = "rsa-1") -> str:
    """A token with `alg: none` (no signature)."""
    return jwt.encode(payload, key="", algorithm="none", headers={"kid": kid})


@contextmanager
def running_issuer() -> Iterator[Issuer]:
    issuer = Issuer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/oauth-authorization-server":
                body = issuer.metadata()
            elif self.path == "/jwks.json":
                issuer.jwks_fetches += 1
                body = issuer.jwks()
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
