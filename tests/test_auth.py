"""OAuth sign-in, in process: the JWT checks of `auth.Verifier` against a real local issuer (metadata and
JWKS over HTTP), the policy the settings make, and the store's per-user reads."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import SecretStr

from mcp_server_glm import auth, identity
from mcp_server_glm.errors import ConfigError
from mcp_server_glm.settings import Settings
from tests.support.issuer import Issuer, running_issuer, unsigned

pytestmark = pytest.mark.anyio
AUDIENCE = "http://127.0.0.1:8000/mcp"


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with running_issuer() as running:
        yield running


def verifier(issuer: Issuer, public_url: str | None = None) -> auth.Verifier:
    settings = Settings(auth_issuer=issuer.url, transport="streamable-http", port=8000, public_url=public_url)
    rules = auth.policy(settings, {"glm_chat": True, "generate_video": False})
    assert rules is not None
    return auth.Verifier(rules)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def refused(check: auth.Verifier, token: str) -> str:
    with pytest.raises(auth.TokenRefused) as caught:
        await check.verify(token)
    assert token not in str(caught.value)
    return str(caught.value)


async def test_a_valid_token_of_either_key_names_its_user_and_scopes(issuer: Issuer) -> None:
    check = verifier(issuer)
    caller = await check.verify(issuer.mint(AUDIENCE, sub="alice", scope="glm:read"))
    assert caller == identity.Caller(user="alice", scopes=frozenset({"glm:read"}))
    ec_caller = await check.verify(issuer.mint(AUDIENCE, sub="bob", kid="ec-1", scope="glm:read glm:admin"))
    assert ec_caller.user == "bob"
    assert ec_caller.admin
    assert issuer.jwks_fetches == 1  # found through the RFC 8414 metadata, fetched once, then cached


async def test_scp_lists_are_scopes_too(issuer: Issuer) -> None:
    caller = await verifier(issuer).verify(
        issuer.mint(AUDIENCE, scope=None, scp=["glm:read", "glm:generate"])
    )
    assert caller.scopes == {"glm:read", "glm:generate"}


async def test_expired_and_not_yet_valid_tokens_are_refused_past_the_leeway(issuer: Issuer) -> None:
    check = verifier(issuer)
    now = int(time.time())
    assert "expired" in await refused(check, issuer.mint(AUDIENCE, exp=now - auth.LEEWAY - 5))
    assert "not valid yet" in await refused(check, issuer.mint(AUDIENCE, nbf=now + auth.LEEWAY + 30))
    # Within the leeway, a clock a little off is forgiven.
    assert (await check.verify(issuer.mint(AUDIENCE, exp=now - 10))).user == "alice"


async def test_another_audience_or_issuer_is_refused(issuer: Issuer) -> None:
    check = verifier(issuer)
    assert "not for this server" in await refused(check, issuer.mint("http://127.0.0.1:9999/mcp"))
    assert "another issuer" in await refused(check, issuer.mint(AUDIENCE, iss="http://evil.example"))
    assert "no aud claim" in await refused(check, issuer.mint(AUDIENCE, aud=None))
    assert "no sub claim" in await refused(check, issuer.mint(AUDIENCE, sub=None))
    # GLM_PUBLIC_URL makes the canonical URL the audience.
    public = verifier(issuer, public_url="https://GLM.example.com/")
    assert public.rules.resource == "https://glm.example.com/mcp"
    assert (await public.verify(issuer.mint("https://glm.example.com/mcp"))).user == "alice"


async def test_an_unknown_key_refetches_the_keys_at_most_once_a_period(issuer: Issuer) -> None:
    check = verifier(issuer)
    assert (await check.verify(issuer.mint(AUDIENCE))).user == "alice"
    stranger = issuer.mint(AUDIENCE, kid="rsa-2", key=issuer.stranger)
    assert "not among the issuer's keys" in await refused(check, stranger)
    assert "not among the issuer's keys" in await refused(check, stranger)
    assert issuer.jwks_fetches == 1  # a flood of unknown kids does not become a flood of fetches


async def test_a_new_key_is_found_by_the_refresh(issuer: Issuer, monkeypatch: pytest.MonkeyPatch) -> None:
    issuer.published = ["ec-1"]
    check = verifier(issuer)
    assert (await check.verify(issuer.mint(AUDIENCE, kid="ec-1"))).user == "alice"
    issuer.published = ["ec-1", "rsa-1"]  # the issuer rotates in a key
    monkeypatch.setattr(auth, "KEYS_REFRESH_SECONDS", 0.0)
    assert (await check.verify(issuer.mint(AUDIENCE, kid="rsa-1"))).user == "alice"
    assert issuer.jwks_fetches == 2


async def test_forged_signatures_and_algorithms_are_refused(issuer: Issuer) -> None:
    check = verifier(issuer)
    forged = issuer.mint(AUDIENCE, kid="rsa-1", key=issuer.stranger)  # a published kid, another key
    assert "signature does not verify" in await refused(check, forged)
    head, payload, _ = issuer.mint(AUDIENCE).split(".")
    tampered = issuer.mint(AUDIENCE, sub="mallory").split(".")[1]
    assert "signature does not verify" in await refused(check, f"{head}.{tampered}.{_}")
    claims = {"iss": issuer.url, "aud": AUDIENCE, "sub": "alice", "exp": int(time.time()) + 60}
    assert "'none' are not accepted" in await refused(check, unsigned(claims))
    # HS256 keyed with the public key (the classic confusion) never reaches a key.
    public_pem = issuer.rsa.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': 'rsa-1'}).encode())}.{payload}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert "'HS256' are not accepted" in await refused(check, f"{signing_input}.{b64(mac)}")
    # An EC token naming the RSA key's kid: the key's declared algorithm decides.
    assert "invalid" in await refused(
        check, issuer.mint(AUDIENCE, kid="rsa-1", key=issuer.ec, algorithm="ES256")
    )
    assert "not a JWT" in await refused(check, "not-a-token")


async def test_unreachable_keys_are_one_line_for_the_operator() -> None:
    rules = auth.policy(
        Settings(auth_issuer="http://127.0.0.1:9", transport="streamable-http"),
        {},
    )
    assert rules is not None
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode({"sub": "a"}, key, algorithm="RS256", headers={"kid": "k"})
    with pytest.raises(auth.KeysUnavailable) as caught:
        await auth.Verifier(rules).verify(token)
    assert "set GLM_AUTH_JWKS_URL" in str(caught.value)


def test_policy_scopes_follow_read_only_hints_and_refuse_two_kinds_of_auth() -> None:
    settings = Settings(auth_issuer="https://id.example.com", transport="streamable-http")
    rules = auth.policy(settings, {"glm_chat": True, "generate_video": False})
    assert rules is not None
    assert rules.scope_for("glm_chat") == "glm:read"
    assert rules.scope_for("generate_video") == "glm:generate"
    assert rules.metadata() == {
        "resource": "http://127.0.0.1:8000/mcp",
        "authorization_servers": ["https://id.example.com"],
        "scopes_supported": ["glm:read", "glm:generate", "glm:admin"],
        "bearer_methods_supported": ["header"],
        "resource_name": "mcp-server-glm",
    }
    assert rules.metadata_url == "http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp"
    both = Settings(
        auth_issuer="https://id.example.com",
        auth_token=SecretStr("s3cret-static"),
        transport="streamable-http",
    )
    with pytest.raises(ConfigError, match="GLM_AUTH_ISSUER and GLM_MCP_AUTH_TOKEN are both set"):
        auth.policy(both, {})
    assert auth.policy(Settings(), {}) is None
