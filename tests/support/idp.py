"""A loopback HTTPS OpenID Connect provider shaped like Microsoft Entra ID (v2 endpoints).

It serves, for any tenant path segment (``organizations``, ``common`` or a tenant id):

* ``/{tenant}/v2.0/.well-known/openid-configuration`` — discovery;
* ``/{tenant}/discovery/v2.0/keys`` — the JWKS (RS256 keys; ``rotate_keys`` adds one and signs with it);
* ``/{tenant}/oauth2/v2.0/authorize`` — signs in the user set with ``sign_in_as`` at once and answers
  with the auto-submitting ``form_post`` page a browser would get (``code`` and ``state``), keeping the
  ``nonce`` and the PKCE challenge for the token endpoint;
* ``/{tenant}/oauth2/v2.0/token`` — authorization code (client secret and PKCE S256 checked), refresh
  token and client credentials grants.

Tokens carry Entra's v2 claims: ``iss=https://<host>/{tid}/v2.0``, ``aud``, ``oid``, ``tid``,
``preferred_username``, ``name``, ``roles``, ``groups`` (or the overage ``_claim_names`` when there are
more than 200 groups), optional ``amr``/``acrs``. ``mint`` signs arbitrary claims for rejection tests.
The CA comes from ``trustme``; clients trust ``ca_bundle`` only.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import trustme
from cryptography.hazmat.primitives.asymmetric import rsa

GROUPS_OVERAGE_LIMIT = 200


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass
class EntraUser:
    """Who signs in next: the claims Entra would put in the id_token."""

    tid: str
    oid: str = field(default_factory=lambda: str(uuid.uuid4()))
    preferred_username: str = ""
    name: str = "Test User"
    roles: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    amr: list[str] | None = None
    acrs: list[str] | None = None

    def claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "oid": self.oid,
            "sub": _b64url(hashlib.sha256(self.oid.encode()).digest()),
            "tid": self.tid,
            "preferred_username": self.preferred_username or f"user-{self.oid[:8]}@example.com",
            "name": self.name,
            "ver": "2.0",
        }
        if self.roles:
            claims["roles"] = self.roles
        if len(self.groups) > GROUPS_OVERAGE_LIMIT:
            claims["_claim_names"] = {"groups": "src1"}
            claims["_claim_sources"] = {
                "src1": {"endpoint": f"https://graph.microsoft.com/v1.0/users/{self.oid}/getMemberObjects"}
            }
        elif self.groups:
            claims["groups"] = self.groups
        if self.amr is not None:
            claims["amr"] = self.amr
        if self.acrs is not None:
            claims["acrs"] = self.acrs
        return claims


@dataclass
class _Key:
    kid: str
    private: rsa.RSAPrivateKey

    def jwk(self) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}


class IdentityProvider:
    def __init__(self, workdir: Path, client_id: str | None = None) -> None:
        self.client_id = client_id or str(uuid.uuid4())
        self.client_secret = secrets.token_urlsafe(24)
        self._ca = trustme.CA()
        self.ca_bundle = workdir / "idp-ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_bundle))
        self._keys: list[_Key] = []
        self.rotate_keys()
        self._lock = threading.Lock()
        self._next_user: EntraUser | None = None
        self._codes: dict[str, dict[str, Any]] = {}
        self._refresh_tokens: dict[str, EntraUser] = {}
        self.issued: list[str] = []  # every token and secret handed out, for the log-leak test
        self.token_requests = 0
        self.jwks_requests = 0
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> IdentityProvider:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        self._server = server
        self.url = f"https://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, name="test-idp", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- test controls ---------------------------------------------------------------------------
    def sign_in_as(self, user: EntraUser) -> None:
        with self._lock:
            self._next_user = user

    def rotate_keys(self, *, keep_old: bool = True) -> str:
        """Publish a new signing key and sign with it from now on; returns its kid."""
        key = _Key(
            kid=secrets.token_hex(8), private=rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
        self._keys = [*self._keys, key] if keep_old else [key]
        return key.kid

    @property
    def signing_key(self) -> _Key:
        return self._keys[-1]

    def issuer(self, tid: str) -> str:
        return f"{self.url}/{tid}/v2.0"

    def mint(
        self,
        claims: dict[str, Any],
        *,
        lifetime: int = 3600,
        not_before: int = 0,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        algorithm: str = "RS256",
    ) -> str:
        """Sign ``claims`` (plus iat/nbf/exp and, unless given, iss for the tid) like Entra would."""
        now = int(time.time())
        body = {"iat": now, "nbf": now + not_before, "exp": now + lifetime, **claims}
        body.setdefault("iss", self.issuer(str(claims.get("tid"))))
        token = jwt.encode(
            body,
            key or self.signing_key.private,
            algorithm=algorithm,
            headers={"kid": kid or self.signing_key.kid, "typ": "JWT"},
        )
        self.issued.append(token)
        return token

    def id_token_for(self, user: EntraUser, *, nonce: str | None = None, **overrides: Any) -> str:
        claims = {**user.claims(), "aud": self.client_id}
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(overrides)
        return self.mint(claims)

    def access_token_for(self, user: EntraUser, *, scp: str = "access_as_user", **overrides: Any) -> str:
        claims = {**user.claims(), "aud": f"api://{self.client_id}", "scp": scp, "azp": str(uuid.uuid4())}
        claims.update(overrides)
        return self.mint(claims)

    # -- protocol ----------------------------------------------------------------------------------
    def discovery(self, tenant: str) -> dict[str, Any]:
        base = f"{self.url}/{tenant}"
        return {
            "issuer": f"{self.url}/{{tenantid}}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "response_types_supported": ["code", "id_token", "code id_token"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"],
            "tenant_region_scope": "OC",
        }

    def jwks(self) -> dict[str, Any]:
        self.jwks_requests += 1
        return {"keys": [key.jwk() for key in self._keys]}

    def authorize(self, query: dict[str, str]) -> tuple[int, str]:
        if query.get("client_id") != self.client_id:
            return 400, "unknown client_id"
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 400, "PKCE (S256) is required"
        with self._lock:
            user = self._next_user
        if user is None:
            return 400, "nobody is signing in"
        code = secrets.token_urlsafe(32)
        self.issued.append(code)
        self._codes[code] = {
            "user": user,
            "redirect_uri": query["redirect_uri"],
            "challenge": query["code_challenge"],
            "nonce": query.get("nonce"),
            "scope": query.get("scope", ""),
        }
        fields = {"code": code, "state": query.get("state", ""), "session_state": str(uuid.uuid4())}
        inputs = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(value)}"/>'
            for name, value in fields.items()
        )
        page = (
            f'<html><body onload="document.forms[0].submit()">'
            f'<form method="POST" action="{html.escape(query["redirect_uri"])}">{inputs}</form></body></html>'
        )
        return 200, page

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.token_requests += 1
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret",
            }
        grant = form.get("grant_type")
        if grant == "authorization_code":
            pending = self._codes.pop(form.get("code", ""), None)
            if pending is None:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "AADSTS70008: code expired or used",
                }
            if form.get("redirect_uri") != pending["redirect_uri"]:
                return 400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
            verifier = form.get("code_verifier", "")
            if _b64url(hashlib.sha256(verifier.encode()).digest()) != pending["challenge"]:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "AADSTS501481: PKCE verification failed",
                }
            return 200, self._tokens(pending["user"], pending["nonce"], pending["scope"])
        if grant == "refresh_token":
            user = self._refresh_tokens.pop(form.get("refresh_token", ""), None)
            if user is None:
                return 400, {"error": "invalid_grant", "error_description": "refresh token revoked"}
            return 200, self._tokens(user, None, form.get("scope", ""))
        if grant == "client_credentials":
            app_claims = {"tid": "service", "oid": str(uuid.uuid4()), "roles": ["Images.Generate"]}
            token = self.mint({**app_claims, "aud": f"api://{self.client_id}", "azp": self.client_id})
            return 200, {"token_type": "Bearer", "expires_in": 3599, "access_token": token}
        return 400, {"error": "unsupported_grant_type"}

    def _tokens(self, user: EntraUser, nonce: str | None, scope: str) -> dict[str, Any]:
        refresh = secrets.token_urlsafe(48)
        self.issued.append(refresh)
        self._refresh_tokens[refresh] = user
        client_info = _b64url(json.dumps({"uid": user.oid, "utid": user.tid}).encode())
        return {
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": self.access_token_for(user),
            "refresh_token": refresh,
            "id_token": self.id_token_for(user, nonce=nonce),
            "client_info": client_info,
        }


def _handler(idp: IdentityProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # the request line carries codes and tokens: keep it out of the test output

        def _send(
            self, status: int, body: str | dict[str, Any], content_type: str = "application/json"
        ) -> None:
            data = (json.dumps(body) if isinstance(body, dict) else body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            segments = parts.path.strip("/").split("/")
            tenant, rest = segments[0], "/".join(segments[1:])
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if rest == "v2.0/.well-known/openid-configuration":
                self._send(200, idp.discovery(tenant))
            elif rest == "discovery/v2.0/keys":
                self._send(200, idp.jwks())
            elif rest == "oauth2/v2.0/authorize":
                status, page = idp.authorize(query)
                self._send(status, page, "text/html; charset=utf-8")
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path.endswith("/oauth2/v2.0/token"):
                status, body = idp.token(form)
                self._send(status, body)
            else:
                self._send(404, {"error": "not_found"})

    return Handler
