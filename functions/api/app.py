"""Albums API: albums with counts, an album's photos (newest first, paginated), a photo's record, label
search and presigned URLs, plus the gallery page (static files from ./gallery). One Powertools resolver.

API Gateway enforces the configured auth (IAM or a Cognito JWT authorizer) on every /api/ route; this handler
checks again that the request carries that identity, so a route added without an authorizer fails closed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from pydantic import BaseModel

from photosort.albums_api import (
    AlbumsApi,
    ApiAuth,
    ApiProblem,
    ApiSettings,
    ErrorResponse,
    PageQuery,
    SearchQuery,
    Unauthorized,
    parse_query,
)
from photosort.errors import InvalidPageTokenError
from photosort.repository import Repository

logger = Logger()
tracer = Tracer()
settings = ApiSettings.from_env()
repo = Repository(boto3.client("dynamodb"), settings.table_name)
_s3 = boto3.client(
    "s3",
    endpoint_url=settings.presign_endpoint,
    config=Config(signature_version="s3v4", s3={"addressing_style": "path" if settings.presign_endpoint else "auto"}),
)


def presign(key: str) -> str:
    return str(
        _s3.generate_presigned_url(
            "get_object", Params={"Bucket": settings.bucket, "Key": key}, ExpiresIn=settings.url_ttl
        )
    )


api = AlbumsApi(repo, presign, settings.url_ttl, s3=boto3.client("s3"), max_pixels=settings.max_image_pixels)
cors = CORSConfig(allow_origin=settings.allowed_origin, max_age=600) if settings.allowed_origin else None
app = APIGatewayHttpResolver(cors=cors)

GALLERY = Path(__file__).resolve().parent / "gallery"
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/gallery.css": ("gallery.css", "text/css; charset=utf-8"),
    "/gallery.js": ("gallery.js", "text/javascript; charset=utf-8"),
}
_files = {path: (GALLERY / name).read_bytes().decode("utf-8") for path, (name, _type) in STATIC.items()}
_images = urlsplit(presign("thumbnails/probe"))
_connect = f" https://{settings.cognito_domain}" if settings.cognito_domain else ""
CSP = (
    f"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: {_images.scheme}://{_images.netloc};"
    f" connect-src 'self'{_connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _json(model: BaseModel, status: int = 200) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=model.model_dump_json(),
        headers={"Cache-Control": "no-store"},  # the presigned URLs inside expire
    )


def _error(status: int, code: str, message: str) -> Response[str]:
    return _json(ErrorResponse.of(code, message), status)


def _identity(event: dict[str, Any]) -> bool:
    """True when the request carries the identity API Gateway adds for the configured auth."""
    if settings.auth is ApiAuth.PUBLIC:
        return True
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    if settings.auth is ApiAuth.IAM:
        iam = authorizer.get("iam") or {}
        return bool(iam.get("accessKey") or iam.get("userArn") or iam.get("userId"))
    claims = (authorizer.get("jwt") or {}).get("claims") or {}
    return bool(claims.get("sub"))


def require_identity(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    if app.current_event.path.startswith("/api/") and not _identity(app.current_event.raw_event):
        return _error(401, Unauthorized.code, f"this API needs {settings.auth.value} authentication")
    return next_middleware(app)


app.use(middlewares=[require_identity])


# ------------------------------------------------------------------------------------------------ routes
@app.get("/api/albums")
def list_albums() -> Response[str]:
    return _json(api.albums())


@app.get("/api/albums/<album>/photos")
def album_photos(album: str) -> Response[str]:
    query = parse_query(PageQuery, app.current_event.query_string_parameters)
    return _json(api.album_photos(unquote(album), query))


@app.get("/api/photos/<image_id>")
def photo(image_id: str) -> Response[str]:
    return _json(api.photo(image_id))


@app.get("/api/photos/<image_id>/thumbnail")
def photo_thumbnail(image_id: str) -> Response[str]:
    """The thumbnail's presigned URL; the first request for a photo makes the thumbnail (the workflow makes none)."""
    return _json(api.thumbnail(image_id))


@app.get("/api/photos/<image_id>/urls")
def photo_urls(image_id: str) -> Response[str]:
    return _json(api.urls(image_id))


@app.get("/api/search")
def search() -> Response[str]:
    return _json(api.search(parse_query(SearchQuery, app.current_event.query_string_parameters)))


@app.get("/config.json")
def config() -> Response[str]:
    """What the page needs to know: how to sign in (nothing secret)."""
    return Response(
        status_code=200,
        content_type="application/json",
        body=_config_body(),
        headers={"Cache-Control": "no-cache"},
    )


def _config_body() -> str:
    cognito = None
    if settings.auth is ApiAuth.COGNITO and settings.cognito_domain and settings.cognito_client_id:
        cognito = {"domain": settings.cognito_domain, "client_id": settings.cognito_client_id}
    return json.dumps({"auth": settings.auth.value, "cognito": cognito, "api": "/api"})


@app.get("/")
@app.get("/gallery.css")
@app.get("/gallery.js")
def static_file() -> Response[str]:
    path = app.current_event.path
    return Response(
        status_code=200,
        content_type=STATIC[path][1],
        body=_files[path],
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


# ------------------------------------------------------------------------------------------------ errors
@app.exception_handler(ApiProblem)  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
def problem(exc: ApiProblem) -> Response[str]:
    return _error(exc.status, exc.code, exc.message)


@app.exception_handler(InvalidPageTokenError)  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
def bad_token(exc: InvalidPageTokenError) -> Response[str]:
    return _error(400, "BadPageToken", str(exc))


@app.not_found
def not_found(exc: Exception) -> Response[str]:
    return _error(404, "NotFound", f"no route for {app.current_event.http_method} {app.current_event.path}")


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
def unexpected(exc: Exception) -> Response[str]:
    logger.exception("unexpected error")
    return _error(500, "InternalError", "unexpected error; see the function's logs")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
