"""The gallery offline: an HTTP front door that plays API Gateway for the albums API function.

``photosort local serve`` (and ``photosort demo --serve``) start it next to moto's endpoint. Each request becomes
the HTTP API (payload 2.0) event API Gateway would send, and goes to the *deployed* AlbumsApiFunction through
the in-process Lambda runner: the same handler, the same page. Routes match the template's (GET /, GET /{asset},
GET /api/{proxy+}); anything else gets API Gateway's own 404.

Auth, two ways. By default the front door binds to loopback and stands in for the authorizer as the account
owner: it adds the identity the configured ``ApiAuth`` expects (an IAM principal or Cognito claims of a local
user) to every /api/ request. With ``sign_in=True`` (ApiAuth=cognito only) it plays the template's JWT
authorizer instead: it makes the template's user pool and app client in moto's cognito-idp (moto's
CloudFormation cannot), and lets an /api/ request through only with a token that pool issued for that client
(signature from the issuer's JWKS, ``iss``, ``aud``/``client_id``, ``exp``, ``nbf``, ``iat``), passing its
claims on as API Gateway does. Anything else gets API Gateway's own 401.

Presigned URLs point at the served moto endpoint, which the browser can fetch.
"""

from __future__ import annotations

import argparse
import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from photosort import constants
from photosort_local import sam
from photosort_local.stack import EmbeddedStack

API_FUNCTION_OUTPUT = "AlbumsApiFunctionName"
LOCAL_ACCOUNT = "123456789012"
UNAUTHORIZED = (401, {"Content-Type": "application/json"}, b'{"message":"Unauthorized"}')  # API Gateway's own 401
# Where the template's Cognito resources are (AlbumsApiAuthorizer's JwtConfiguration refers to the other two).
USER_POOL, USER_POOL_CLIENT, AUTHORIZER = "GalleryUserPool", "GalleryUserPoolClient", "AlbumsApiAuthorizer"


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gallery-port",
        type=int,
        default=None,
        help="port of the gallery page and albums API on 127.0.0.1 (default: --port + 1, so 5001; 0 picks one)",
    )


def gallery_port(port: int, requested: int | None) -> int:
    """The gallery's port: as requested, else the AWS endpoint's port + 1 (any free port when that is 0)."""
    if requested is not None:
        return requested
    return port + 1 if port else 0


def _route_matches(method: str, path: str) -> bool:
    """The template's routes: GET /, GET /{asset} (one segment), GET /api/{proxy+}."""
    if method != "GET":
        return False
    if path == "/" or (path.startswith("/api/") and len(path) > len("/api/")):
        return True
    return path.count("/") == 1 and len(path) > 1


def _identity(auth: str) -> dict[str, Any]:
    if auth == "iam":
        return {
            "iam": {
                "accessKey": "LOCALACCESSKEY",
                "accountId": LOCAL_ACCOUNT,
                "callerId": "LOCAL",
                "principalOrgId": None,
                "userArn": f"arn:aws:iam::{LOCAL_ACCOUNT}:user/local",
                "userId": "LOCAL",
            }
        }
    if auth == "cognito":
        return {"jwt": {"claims": {"sub": "local-user", "email": "local@localhost"}, "scopes": None}}
    return {}


class TokenRejected(Exception):
    """API Gateway's JWT authorizer would answer 401."""


@dataclass(frozen=True)
class JwtAuthorizer:
    """API Gateway's JWT authorizer (HTTP APIs), as AWS documents it: the token from the Authorization header
    (with or without ``Bearer``), an RSA signature by a key of the issuer's JWKS (``kid``), then ``iss``, ``aud``
    (or ``client_id`` when there is no ``aud``), ``exp``, ``nbf`` and ``iat``."""

    issuer: str
    audience: tuple[str, ...]
    keys: KeySet = field(repr=False)
    leeway: int = 0

    @classmethod
    def for_issuer(cls, issuer: str, audience: tuple[str, ...]) -> JwtAuthorizer:
        """Fetches the keys the way API Gateway does: the issuer's OpenID configuration, then its jwks_uri."""
        config = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
        keys = KeySet.import_key_set(requests.get(config["jwks_uri"], timeout=10).json())
        return cls(issuer=issuer, audience=audience, keys=keys)

    def claims(self, authorization: str | None, now: float | None = None) -> dict[str, str]:
        """The token's claims as API Gateway passes them on (strings); raises :class:`TokenRejected`."""
        value = (authorization or "").strip()
        if value[:7].lower() == "bearer ":
            value = value[7:].strip()
        if not value:
            raise TokenRejected("no token")
        try:
            token = jwt.decode(value, self.keys, algorithms=["RS256", "RS384", "RS512"])
        except (JoseError, ValueError, TypeError) as exc:
            raise TokenRejected(f"bad token: {exc}") from exc
        claims = token.claims
        moment = time.time() if now is None else now
        if claims.get("iss") != self.issuer:
            raise TokenRejected("wrong issuer")
        aud = claims.get("aud", claims.get("client_id"))
        if not set([aud] if isinstance(aud, str) else (aud or [])) & set(self.audience):
            raise TokenRejected("wrong audience")
        for name, late in (("exp", False), ("nbf", True), ("iat", True)):
            value_at = claims.get(name)
            if value_at is None:
                if name == "exp":
                    raise TokenRejected("no exp")
                continue
            if not isinstance(value_at, int | float):
                raise TokenRejected(f"bad {name}")
            if (late and value_at > moment + self.leeway) or (not late and value_at <= moment - self.leeway):
                raise TokenRejected(f"{name} fails")
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in claims.items()}


@dataclass(frozen=True)
class LocalUserPool:
    """The template's gallery user pool, app client and domain, made in moto's cognito-idp."""

    cognito: Any = field(repr=False)  # a cognito-idp client of the embedded account
    pool_id: str
    client_id: str
    domain: str
    region: str
    callback_urls: tuple[str, ...]

    @classmethod
    def create(
        cls, cognito: Any, resources: dict[str, Any], stack_name: str, region: str, callback_url: str
    ) -> LocalUserPool:
        """``resources``: the template's; the pool and client get their properties (the callback URL aside)."""
        pool = resources[USER_POOL]["Properties"]
        made = cognito.create_user_pool(
            PoolName=f"{stack_name}-gallery",
            UsernameAttributes=pool["UsernameAttributes"],
            AutoVerifiedAttributes=pool["AutoVerifiedAttributes"],
            AdminCreateUserConfig=pool["AdminCreateUserConfig"],
            Policies=pool["Policies"],
        )["UserPool"]
        client = resources[USER_POOL_CLIENT]["Properties"]
        app = cognito.create_user_pool_client(
            UserPoolId=made["Id"],
            ClientName=client["ClientName"],
            GenerateSecret=client["GenerateSecret"],
            AllowedOAuthFlowsUserPoolClient=client["AllowedOAuthFlowsUserPoolClient"],
            AllowedOAuthFlows=client["AllowedOAuthFlows"],
            AllowedOAuthScopes=client["AllowedOAuthScopes"],
            SupportedIdentityProviders=client["SupportedIdentityProviders"],
            # the deployed client allows the API's own URL; here, the gallery's
            CallbackURLs=[callback_url],
            LogoutURLs=[callback_url],
            ExplicitAuthFlows=client["ExplicitAuthFlows"],
        )["UserPoolClient"]
        domain = f"photosort-{LOCAL_ACCOUNT}-{region}"  # the template's default (empty CognitoDomainPrefix)
        cognito.create_user_pool_domain(Domain=domain, UserPoolId=made["Id"])
        return cls(
            cognito=cognito,
            pool_id=made["Id"],
            client_id=app["ClientId"],
            domain=f"{domain}.auth.{region}.amazoncognito.com",
            region=region,
            callback_urls=(callback_url,),
        )

    def authorizer(self, resources: dict[str, Any]) -> JwtAuthorizer:
        """The template's AlbumsApiAuthorizer, its Issuer and Audience resolved for this pool."""
        config = resources[AUTHORIZER]["Properties"]["JwtConfiguration"]
        issuer = (
            config["Issuer"]["Fn::Sub"]
            .replace("${AWS::Region}", self.region)
            .replace("${AWS::URLSuffix}", "amazonaws.com")
            .replace("${" + USER_POOL + "}", self.pool_id)
        )
        refs = {USER_POOL_CLIENT: self.client_id}
        audience = tuple(refs[a["Ref"]] for a in config["Audience"])
        return JwtAuthorizer.for_issuer(issuer, audience)

    def add_user(self, email: str, password: str) -> None:
        """An invited user who has set a password (``admin-create-user``, then the first sign-in)."""
        self.cognito.admin_create_user(
            UserPoolId=self.pool_id,
            Username=email,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            MessageAction="SUPPRESS",
        )
        self.cognito.admin_set_user_password(UserPoolId=self.pool_id, Username=email, Password=password, Permanent=True)

    def sign_in(self, email: str, password: str) -> dict[str, Any]:
        """The tokens Cognito issues for a user's password (``AuthenticationResult``); raises on a wrong one."""
        result = self.cognito.admin_initiate_auth(
            UserPoolId=self.pool_id,
            ClientId=self.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )
        return dict(result["AuthenticationResult"])


def http_api_event(
    method: str,
    raw_path: str,
    query: str,
    headers: dict[str, str],
    auth: str,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The API Gateway HTTP API (payload format 2.0) event for one request."""
    now = datetime.now(UTC)
    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        params[key] = f"{params[key]},{value}" if key in params else value  # API Gateway joins repeats with ","
    route = "GET /" if raw_path == "/" else ("GET /api/{proxy+}" if raw_path.startswith("/api/") else "GET /{asset}")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route,
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "accountId": LOCAL_ACCOUNT,
            "apiId": "local",
            "domainName": headers.get("Host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("User-Agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if params:
        event["queryStringParameters"] = params
    if authorizer is None:
        authorizer = _identity(auth) if raw_path.startswith("/api/") else {}
    if authorizer:
        event["requestContext"]["authorizer"] = authorizer
    return event


class GalleryServer:
    """Serves the deployed AlbumsApiFunction of ``stack`` over HTTP until :meth:`stop`.

    ``sign_in=True`` (ApiAuth=cognito): /api/ needs a token of :attr:`user_pool`, checked as the template's JWT
    authorizer checks it; else the front door signs every request in as the account owner.
    """

    def __init__(
        self, stack: EmbeddedStack, aws_endpoint: str, host: str = "127.0.0.1", port: int = 0, *, sign_in: bool = False
    ) -> None:
        if stack.runner is None:
            raise RuntimeError("the stack is not started")
        self._runner = stack.runner
        self.function = stack.outputs[API_FUNCTION_OUTPUT]
        spec = self._runner.specs[self.function]
        # Environment is read when the handler module first loads: presigned URLs must point at the served
        # endpoint (the browser cannot reach the in-process mock).
        spec.environment[constants.PRESIGN_ENDPOINT] = aws_endpoint
        self.auth = spec.environment.get(constants.API_AUTH, "cognito")
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self.user_pool: LocalUserPool | None = None
        self._authorizer: JwtAuthorizer | None = None
        if sign_in:
            if self.auth != "cognito":
                raise ValueError(f"sign-in needs ApiAuth=cognito, the stack has {self.auth}")
            resources = sam.load_sam_template(stack.template)["Resources"]
            cognito = stack.client("cognito-idp")
            self.user_pool = LocalUserPool.create(cognito, resources, stack.stack_name, stack.region, self.url)
            self._authorizer = self.user_pool.authorizer(resources)
            # the page's config.json: this pool's hosted UI domain and app client
            spec.environment[constants.COGNITO_DOMAIN] = self.user_pool.domain
            spec.environment[constants.COGNITO_CLIENT_ID] = self.user_pool.client_id
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="gallery", daemon=True)

    @property
    def url(self) -> str:
        host, port = str(self._httpd.server_address[0]), int(self._httpd.server_address[1])
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - a comparison, not a bind
        return f"http://{shown}:{port}/"

    def start(self) -> GalleryServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> GalleryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def invoke(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        if not _route_matches(method, parts.path):
            return 404, {"Content-Type": "application/json"}, b'{"message":"Not Found"}'
        authorizer = None
        if self._authorizer is not None:
            authorizer = {}
            if parts.path.startswith("/api/"):
                wanted = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
                try:
                    authorizer = {"jwt": {"claims": self._authorizer.claims(wanted), "scopes": None}}
                except TokenRejected:
                    return UNAUTHORIZED
        event = http_api_event(method, parts.path, parts.query, headers, self.auth, authorizer)
        result = self._runner.invoke(self.function, json.dumps(event))
        body = json.loads(result.payload or b"null")
        if result.function_error or not isinstance(body, dict) or "statusCode" not in body:
            # what API Gateway answers when the integration fails
            return 500, {"Content-Type": "application/json"}, b'{"message":"Internal Server Error"}'
        out_headers = {k: str(v) for k, v in (body.get("headers") or {}).items()}
        payload = body.get("body") or ""
        data = base64.b64decode(payload) if body.get("isBase64Encoded") else payload.encode("utf-8")
        return int(body["statusCode"]), out_headers, data

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "photosort-gallery"
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                started = time.monotonic()
                status, headers, data = gateway.invoke(self.command, self.path, dict(self.headers.items()))
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Photosort-Latency-Ms", f"{(time.monotonic() - started) * 1000:.0f}")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _answer

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

        return Handler


# -- the CLI's side: ``photosort demo --serve`` (``local serve`` calls server.serve with gallery_port) ---------
def add_demo_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--serve",
        action="store_true",
        help="afterwards keep the stack running and serve the gallery (prints its URL) until Ctrl-C",
    )
    parser.add_argument("--port", type=int, default=5000, help="with --serve: the AWS endpoint's port (default 5000)")
    add_options(parser)


def serve_demo(stack: EmbeddedStack, args: argparse.Namespace) -> None:
    import sys

    from photosort_local import server

    try:
        server.serve(stack, "127.0.0.1", args.port, sys.stdout, gallery_port=gallery_port(args.port, args.gallery_port))
    except server.PortInUseError as exc:
        raise SystemExit(f"photosort: error: {exc}") from exc
