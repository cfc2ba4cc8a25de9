"""The albums API's domain side: typed responses, one error shape, and the reads behind each route.

The handler (functions/api/app.py) only routes. Everything here goes through :class:`Repository`'s public
reads, so it follows whatever item design the table has. URLs are presigned GETs that expire after
``url_ttl`` seconds; originals are signed only under the album and inventory prefixes (the role also reads
unsorted/, only to make a thumbnail on first view).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from photosort import constants
from photosort import constants as env
from photosort.errors import ConfigurationError, PhotosortError, describe_validation
from photosort.models import DEFAULT_MAX_PIXELS, AlbumEntry, CollectionKind, ImageMetadata, ImageRecord, Status
from photosort.repository import Repository
from photosort.thumbnails import THUMBNAIL_STATUSES_VALUES, ensure_thumbnail, thumbnail_key

IMAGE_ID = re.compile(r"^[0-9a-f]{32}$")
ORIGINAL_PREFIXES = (constants.ALBUMS_PREFIX, constants.INVENTORY_PREFIX)
Presign = Callable[[str], str]
"""Turns an object key of the photo bucket into a presigned GET URL."""


class ApiAuth(StrEnum):
    COGNITO = "cognito"  # API Gateway JWT authorizer on a Cognito user pool; the gallery signs in (PKCE)
    IAM = "iam"  # SigV4-signed requests (AWS CLI, awscurl, SDKs)
    PUBLIC = "public"  # explicit opt-in only: anyone who has the URL


class ApiSettings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    auth: ApiAuth = Field(ApiAuth.COGNITO, alias=env.API_AUTH)
    bucket: str = Field(alias=env.BUCKET_NAME, min_length=3)
    table_name: str = Field(alias=env.TABLE_NAME, min_length=1)
    allowed_origin: str | None = Field(None, alias=env.ALLOWED_ORIGIN, pattern=r"^https?://[^/\s]+$")
    url_ttl: int = Field(300, ge=10, le=3600, alias=env.URL_TTL)
    cognito_domain: str | None = Field(None, alias=env.COGNITO_DOMAIN)
    cognito_client_id: str | None = Field(None, alias=env.COGNITO_CLIENT_ID)
    presign_endpoint: str | None = Field(None, alias=env.PRESIGN_ENDPOINT)
    max_image_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1, alias=env.MAX_IMAGE_PIXELS)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        source = dict(os.environ if environ is None else environ)
        values = {k: v for k, v in source.items() if k.startswith("PHOTOSORT_") and v != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigurationError(f"invalid albums API configuration: {describe_validation(exc, 'api')}") from exc


# ------------------------------------------------------------------------------------------------- errors
class ApiProblem(PhotosortError):
    """An error the API answers with a 4xx status and the one error shape."""

    status = 400
    code = "BadRequest"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ApiProblem):
    status = 404
    code = "NotFound"


class BadRequest(ApiProblem):
    status = 400
    code = "BadRequest"


class Unauthorized(ApiProblem):
    status = 401
    code = "Unauthorized"


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """Every error the API returns: ``{"error": {"code": ..., "message": ...}}``."""

    error: ErrorBody

    @classmethod
    def of(cls, code: str, message: str) -> ErrorResponse:
        return cls(error=ErrorBody(code=code, message=message))


# ---------------------------------------------------------------------------------------------- responses
class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class PhotoSummary(_Out):
    image_id: str
    taken_at: str
    label: str
    confidence: float
    thumbnail_url: str


class AlbumOut(_Out):
    album: str
    kind: CollectionKind
    count: int
    cover: PhotoSummary | None = None


class AlbumsResponse(_Out):
    albums: list[AlbumOut]


class AlbumPhotosResponse(_Out):
    album: str
    kind: CollectionKind
    count: int
    photos: list[PhotoSummary]
    next_token: str | None = None


class LabelOut(_Out):
    name: str
    confidence: float
    parents: tuple[str, ...] = ()


class MembershipOut(_Out):
    album: str
    kind: CollectionKind
    label: str
    confidence: float


class ThumbnailResponse(_Out):
    image_id: str
    url: str
    made: bool  # made by this request (the photo's first view)
    expires_at: datetime


class PhotoUrls(_Out):
    thumbnail: str | None
    original: str | None
    expires_at: datetime


class PhotoResponse(_Out):
    image_id: str
    status: Status
    reason: str
    bucket: str
    source_key: str
    destination_key: str
    original_location: str
    albums: list[MembershipOut]
    labels: list[LabelOut]
    faces: Any | None = None
    metadata: ImageMetadata | None = None
    backend: str | None = None
    model_version: str | None = None
    duplicate_of: str | None = None
    created_at: datetime
    urls: PhotoUrls


class SearchHit(_Out):
    image_id: str
    status: Status
    label: str
    confidence: float
    taken_at: str
    albums: list[str]
    thumbnail_url: str | None


class SearchResponse(_Out):
    label: str
    photos: list[SearchHit]
    next_token: str | None = None


class PageQuery(BaseModel):
    """Query string of the paginated routes."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    limit: int = Field(30, ge=1, le=100)
    next: str | None = Field(None, min_length=1, max_length=2048)


class SearchQuery(PageQuery):
    label: str = Field(min_length=1, max_length=128)


def parse_query[Q: BaseModel](model: type[Q], params: Mapping[str, str] | None) -> Q:
    try:
        return model.model_validate(dict(params or {}))
    except ValidationError as exc:
        raise BadRequest(describe_validation(exc, "query")) from exc


# ----------------------------------------------------------------------------------------------- the reads
class AlbumsApi:
    def __init__(
        self, repo: Repository, presign: Presign, url_ttl: int, *, s3: Any = None, max_pixels: int = DEFAULT_MAX_PIXELS
    ) -> None:
        self._repo = repo
        self._presign = presign
        self._ttl = url_ttl
        self._s3 = s3  # reads photos and writes thumbnails (GET /api/photos/{id}/thumbnail)
        self._max_pixels = max_pixels

    def _summary(self, entry: AlbumEntry) -> PhotoSummary:
        return PhotoSummary(
            image_id=entry.image_id,
            taken_at=entry.taken_at,
            label=entry.label,
            confidence=entry.confidence,
            thumbnail_url=self._presign(thumbnail_key(entry.image_id)),
        )

    def albums(self) -> AlbumsResponse:
        out = []
        for summary in sorted(self._repo.list_albums(), key=lambda a: (a.kind.value, a.album)):
            if summary.image_count <= 0:
                continue
            newest = self._repo.list_album(summary.album, limit=1).items
            cover = self._summary(newest[0]) if newest else None
            out.append(AlbumOut(album=summary.album, kind=summary.kind, count=summary.image_count, cover=cover))
        return AlbumsResponse(albums=out)

    def album_photos(self, album: str, query: PageQuery) -> AlbumPhotosResponse:
        summary = self._repo.get_album(album)
        if summary is None:
            raise NotFound(f"no album named {album!r}")
        page = self._repo.list_album(album, limit=query.limit, next_token=query.next)
        return AlbumPhotosResponse(
            album=summary.album,
            kind=summary.kind,
            count=summary.image_count,
            photos=[self._summary(entry) for entry in page.items],
            next_token=page.next_token,
        )

    def _record(self, image_id: str) -> ImageRecord:
        if not IMAGE_ID.match(image_id):
            raise NotFound(f"no photo with id {image_id!r}")
        record = self._repo.get(image_id)
        if record is None:
            raise NotFound(f"no photo with id {image_id!r}")
        return record

    def thumbnail(self, image_id: str) -> ThumbnailResponse:
        """The photo's thumbnail, made now if this is its first view (the workflow makes none)."""
        record = self._record(image_id)
        if record.status.value not in THUMBNAIL_STATUSES_VALUES:
            raise NotFound(f"no thumbnail for a {record.status.value} photo")
        if self._s3 is None:
            raise NotFound("this API does not make thumbnails")
        made = ensure_thumbnail(self._s3, record, max_pixels=self._max_pixels)
        return ThumbnailResponse(
            image_id=record.image_id,
            url=self._presign(thumbnail_key(record.image_id)),
            made=made,
            expires_at=datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=self._ttl),
        )

    def urls(self, image_id: str) -> PhotoUrls:
        return self._urls(self._record(image_id))

    def _urls(self, record: ImageRecord) -> PhotoUrls:
        has_thumbnail = record.status.value in THUMBNAIL_STATUSES_VALUES
        original = record.destination_key.startswith(ORIGINAL_PREFIXES) and record.status is Status.SORTED
        return PhotoUrls(
            thumbnail=self._presign(thumbnail_key(record.image_id)) if has_thumbnail else None,
            original=self._presign(record.destination_key) if original else None,
            expires_at=datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=self._ttl),
        )

    def photo(self, image_id: str) -> PhotoResponse:
        record = self._record(image_id)
        stored = record.model_dump()
        return PhotoResponse(
            image_id=record.image_id,
            status=record.status,
            reason=record.reason,
            bucket=record.bucket,
            source_key=record.source_key,
            destination_key=record.destination_key,
            original_location=f"s3://{record.bucket}/{record.destination_key}",
            albums=[MembershipOut.model_validate(m.model_dump()) for m in record.memberships],
            labels=[LabelOut(name=x.name, confidence=x.confidence, parents=x.parents) for x in record.labels],
            # None when the backend detects no faces (face_count None), else the boxes it found (maybe none)
            faces=None if record.face_count is None else stored.get("faces"),
            metadata=record.metadata,
            backend=record.backend,
            model_version=record.model_version,
            duplicate_of=record.duplicate_of,
            created_at=record.created_at,
            urls=self._urls(record),
        )

    def search(self, query: SearchQuery) -> SearchResponse:
        page = self._repo.search_label(query.label, limit=query.limit, next_token=query.next)
        wanted = query.label.casefold()
        hits = []
        for record in page.items:
            label = max((x for x in record.labels if x.name.casefold() == wanted), key=lambda x: x.confidence)
            hits.append(
                SearchHit(
                    image_id=record.image_id,
                    status=record.status,
                    label=label.name,
                    confidence=label.confidence,
                    taken_at=record.sort_time.isoformat(),
                    albums=[m.album for m in record.memberships],
                    thumbnail_url=self._urls(record).thumbnail,
                )
            )
        return SearchResponse(label=query.label, photos=hits, next_token=page.next_token)
