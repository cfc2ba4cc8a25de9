"""A stand-in for Cognito's hosted UI (moto has none), so the browser tests can sign in the way a deployed
gallery does: the authorization code flow with PKCE.

It serves HTTPS (a throwaway self-signed certificate) on 127.0.0.1; Chromium reaches it under the user pool's
real domain name through ``--host-resolver-rules`` and trusts only that certificate
(``--ignore-certificate-errors-spki-list``). What it checks is what Cognito checks for a public client: the
client id, a registered redirect URI, ``code_challenge_method=S256``; the password, through moto's
cognito-idp (``AdminInitiateAuth``); at ``/oauth2/token``, a single-use code, the same redirect URI and a
``code_verifier`` whose SHA-256 is the challenge. The tokens it hands out are the ones moto's Cognito issued.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import secrets
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from photosort_local.gallery import LocalUserPool


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class _Grant:
    tokens: dict[str, Any]
    client_id: str
    redirect_uri: str
    challenge: str


@dataclass
class HostedUi:
    pool: LocalUserPool
    exchanges: list[dict[str, str]] = field(default_factory=list)  # what /oauth2/token was sent, and its answer
    logouts: list[dict[str, str]] = field(default_factory=list)  # the query of each /logout
    _grants: dict[str, _Grant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hosted UI stand-in")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(self.pool.domain)]), critical=False)
            .sign(key, hashes.SHA256())
        )
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.spki_sha256 = base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")
        self._dir = tempfile.TemporaryDirectory(prefix="photosort-hosted-ui-")
        cert_path, key_path = Path(self._dir.name) / "cert.pem", Path(self._dir.name) / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hosted-ui", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def chromium_flags(self) -> list[str]:
        return [
            f"--host-resolver-rules=MAP {self.pool.domain} 127.0.0.1:{self.port}",
            f"--ignore-certificate-errors-spki-list={self.spki_sha256}",
        ]

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._dir.cleanup()

    # -- the endpoints ---------------------------------------------------------------------------------------
    def authorize(self, params: dict[str, str]) -> tuple[int, dict[str, str], str]:
        problem = self._authorize_problem(params)
        if problem:
            return 400, {}, f"<p id=error>{html.escape(problem)}</p>"
        return 200, {}, self._form(params, None)

    def _authorize_problem(self, params: dict[str, str]) -> str | None:
        if params.get("response_type") != "code":
            return "response_type must be code"
        if params.get("client_id") != self.pool.client_id:
            return "unknown client"
        if params.get("redirect_uri") not in self.pool.callback_urls:
            return "redirect_mismatch"
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return "a public client needs PKCE with S256"
        if "openid" not in params.get("scope", "").split():
            return "invalid_scope"
        return None

    def _form(self, params: dict[str, str], error: str | None) -> str:
        hidden = "".join(
            f'<input type=hidden name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in params.items()
        )
        message = f"<p id=error>{html.escape(error)}</p>" if error else ""
        return (
            "<!doctype html><title>Sign in</title><h1>Sign in</h1>"
            f'{message}<form method=post action="/login">{hidden}'
            "<input name=username id=username autocomplete=username>"
            "<input name=password id=password type=password autocomplete=current-password>"
            "<button type=submit id=submit>Sign in</button></form>"
        )

    def login(self, form: dict[str, str]) -> tuple[int, dict[str, str], str]:
        username, password = form.pop("username", ""), form.pop("password", "")
        problem = self._authorize_problem(form)
        if problem:
            return 400, {}, f"<p id=error>{html.escape(problem)}</p>"
        try:
            tokens = self.pool.sign_in(username, password)
        except ClientError:
            return 200, {}, self._form(form, "Incorrect username or password.")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._grants[code] = _Grant(tokens, form["client_id"], form["redirect_uri"], form["code_challenge"])
        query = urlencode({"code": code, **({"state": form["state"]} if "state" in form else {})})
        return 302, {"Location": f"{form['redirect_uri']}?{query}"}, ""

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, str], str]:
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)  # single use
        error = None
        if (
            form.get("grant_type") != "authorization_code"
            or grant is None
            or form.get("client_id") != grant.client_id
            or form.get("redirect_uri") != grant.redirect_uri
            or _b64url(hashlib.sha256(form.get("code_verifier", "").encode()).digest()) != grant.challenge
        ):
            error = "invalid_grant"
        self.exchanges.append({**form, "answer": error or "tokens"})
        if error or grant is None:
            return 400, {"Content-Type": "application/json"}, json.dumps({"error": error})
        body = {
            "id_token": grant.tokens["IdToken"],
            "access_token": grant.tokens["AccessToken"],
            "refresh_token": grant.tokens["RefreshToken"],
            "expires_in": grant.tokens["ExpiresIn"],
            "token_type": "Bearer",
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def logout(self, params: dict[str, str]) -> tuple[int, dict[str, str], str]:
        self.logouts.append(params)
        if params.get("client_id") != self.pool.client_id or params.get("logout_uri") not in self.pool.callback_urls:
            return 400, {}, "<p id=error>logout_uri is not registered</p>"
        return 302, {"Location": params["logout_uri"]}, ""

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        ui = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status: int, headers: dict[str, str], body: str) -> None:
                data = body.encode("utf-8")
                self.send_response(status)
                headers = {"Content-Type": "text/html; charset=utf-8", **headers}
                origin = self.headers.get("Origin")
                if origin:  # the token endpoint answers the page's cross-origin fetch
                    headers["Access-Control-Allow-Origin"] = origin
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = dict(parse_qsl(parts.query))
                if parts.path == "/oauth2/authorize":
                    self._send(*ui.authorize(params))
                elif parts.path == "/logout":
                    self._send(*ui.logout(params))
                else:
                    self._send(404, {}, "not found")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode("utf-8")))
                path = urlsplit(self.path).path
                if path == "/login":
                    self._send(*ui.login(form))
                elif path == "/oauth2/token":
                    self._send(*ui.token(form))
                else:
                    self._send(404, {}, "not found")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

        return Handler
