"""The gallery offline: an HTTP front door that plays API Gateway for the albums API function.

``photosort local serve`` (and ``photosort demo --serve``) start it next to moto's endpoint. Each request becomes
the HTTP API (payload 2.0) event API Gateway would send, and goes to the *deployed* AlbumsApiFunction through
the in-process Lambda runner: the same handler, the same page. Routes match the template's (GET /, GET /{asset},
GET /api/{proxy+}); anything else gets API Gateway's own 404.

Auth: the front door binds to loopback by default and stands in for the authorizer, so it adds the identity
the configured ``ApiAuth`` expects (an IAM principal or Cognito claims of a local user) to every request.
Presigned URLs point at the served moto endpoint, which the browser can fetch.
"""

from __future__ import annotations

import argparse
import base64
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from photosort import constants
from photosort_local.stack import EmbeddedStack

API_FUNCTION_OUTPUT = "AlbumsApiFunctionName"
LOCAL_ACCOUNT = "123456789012"


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


def http_api_event(method: str, raw_path: str, query: str, headers: dict[str, str], auth: str) -> dict[str, Any]:
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
    authorizer = _identity(auth) if raw_path.startswith("/api/") else {}
    if authorizer:
        event["requestContext"]["authorizer"] = authorizer
    return event


class GalleryServer:
    """Serves the deployed AlbumsApiFunction of ``stack`` over HTTP until :meth:`stop`."""

    def __init__(self, stack: EmbeddedStack, aws_endpoint: str, host: str = "127.0.0.1", port: int = 0) -> None:
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
        event = http_api_event(method, parts.path, parts.query, headers, self.auth)
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
