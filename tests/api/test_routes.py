"""The albums API handler (functions/api/app.py) against moto: routes, pagination, auth, errors.

The handler module is loaded fresh for each auth mode with the environment the template gives it, and called
with API Gateway HTTP API (payload 2.0) events, exactly as Lambda would call it.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto import mock_aws
from samtranslator.yaml_helper import yaml_parse

from photosort.models import CollectionKind, ImageMetadata, ImageRecord, Label, Membership, Status
from photosort.repository import Repository

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "functions" / "api" / "app.py"
TABLE = "photos"
BUCKET = "photo-bucket"
IAM = {"iam": {"accessKey": "AKIA", "accountId": "123456789012", "userArn": "arn:aws:iam::123456789012:user/u"}}
JWT = {"jwt": {"claims": {"sub": "3f1c", "email": "a@example.com"}, "scopes": None}}


def _table_definition() -> dict[str, Any]:
    props = yaml_parse((ROOT / "template.yaml").read_text())["Resources"]["PhotoTable"]["Properties"]
    return {
        k: props[k]
        for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
        if k in props
    }


def image_id(n: int) -> str:
    return f"{n:032x}"


def _record(n: int, album: str, taken: datetime, labels: tuple[tuple[str, float], ...]) -> ImageRecord:
    iid = image_id(n)
    now = datetime.now(UTC)
    return ImageRecord(
        created_at=now,
        updated_at=now,
        image_id=iid,
        bucket=BUCKET,
        source_key=f"incoming/p{n}.jpg",
        destination_key=f"albums/{album}/{taken:%Y}/p{n}.jpg",
        status=Status.SORTED,
        reason=f"matched rule {album!r} with label {labels[0][0]!r} ({labels[0][1]:.1f}%)",
        sha256=f"{n:064x}",
        metadata=ImageMetadata(format="JPEG", width=640, height=480, mode="RGB", taken_at=taken),
        memberships=(Membership(album=album, kind=CollectionKind.ALBUM, label=labels[0][0], confidence=labels[0][1]),),
    ).model_copy(update={"labels": tuple(Label(name=name, confidence=c) for name, c in labels)})


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Repository]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Photosort",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        db = boto3.client("dynamodb")
        db.create_table(TableName=TABLE, **_table_definition())
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        repo = Repository(db, TABLE)
        start = datetime(2024, 5, 1, 12, tzinfo=UTC)
        for n in range(7):  # pets: 7 photos, one day apart; p6 is the newest
            repo.save(
                _record(n, "pets", start + timedelta(days=n), (("Cat", 90.0 - n), ("Animal", 97.0))), claim_hash=True
            )
        repo.save(_record(100, "food", start, (("Espresso", 88.0), ("Cup", 61.5))), claim_hash=True)
        yield repo


Loader = Callable[..., ModuleType]


@pytest.fixture
def load_api(aws: Repository, monkeypatch: pytest.MonkeyPatch) -> Loader:
    def load(auth: str = "iam", **env: str) -> ModuleType:
        monkeypatch.setenv("PHOTOSORT_API_AUTH", auth)
        monkeypatch.setenv("PHOTOSORT_TABLE_NAME", TABLE)
        monkeypatch.setenv("PHOTOSORT_BUCKET_NAME", BUCKET)
        monkeypatch.setenv("PHOTOSORT_URL_TTL", "120")
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        spec = importlib.util.spec_from_file_location(f"photosort_api_app_{auth}", APP)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module

    return load


class Ctx:
    function_name = "api"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"
    aws_request_id = "req-1"


def call(
    app: ModuleType,
    path: str,
    query: dict[str, str] | None = None,
    authorizer: dict[str, Any] | None = IAM,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "GET /api/{proxy+}",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": headers or {},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "10.0.0.1", "userAgent": "t"},
            "requestId": "r",
            "routeKey": "GET /api/{proxy+}",
            "stage": "$default",
            "time": "01/Dec/2026:00:00:00 +0000",
            "timeEpoch": 0,
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    if authorizer:
        event["requestContext"]["authorizer"] = authorizer
    response = app.lambda_handler(event, Ctx())
    body = response.get("body") or ""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        parsed = body
    return response["statusCode"], parsed, response.get("headers") or {}


def assert_error(result: tuple[int, Any, dict[str, str]], status: int, code: str) -> None:
    got, body, _ = result
    assert got == status, body
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]


# ------------------------------------------------------------------------------------------------- albums
def test_albums_have_counts_and_the_newest_photo_as_cover(load_api: Loader) -> None:
    status, body, headers = call(load_api("iam"), "/api/albums")
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    albums = {a["album"]: a for a in body["albums"]}
    assert {name: a["count"] for name, a in albums.items()} == {"pets": 7, "food": 1}
    assert albums["pets"]["cover"]["image_id"] == image_id(6)
    url = urlsplit(albums["pets"]["cover"]["thumbnail_url"])
    assert url.path.endswith(f"/thumbnails/{image_id(6)}.webp")
    assert parse_qs(url.query)["X-Amz-Expires"] == ["120"]


def test_album_photos_are_newest_first_across_pages(load_api: Loader) -> None:
    app = load_api("iam")
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        query = {"limit": "3", **({"next": token} if token else {})}
        status, body, _ = call(app, "/api/albums/pets/photos", query)
        assert status == 200, body
        assert body["count"] == 7 and len(body["photos"]) <= 3
        seen += [p["image_id"] for p in body["photos"]]
        pages += 1
        token = body["next_token"]
        if not token:
            break
    assert seen == [image_id(n) for n in range(6, -1, -1)]
    assert pages == 3
    taken = [p["taken_at"] for p in call(app, "/api/albums/pets/photos", {"limit": "7"})[1]["photos"]]
    assert taken == sorted(taken, reverse=True)


def test_unknown_album_is_404(load_api: Loader) -> None:
    assert_error(call(load_api("iam"), "/api/albums/holidays/photos"), 404, "NotFound")


def test_album_name_is_url_decoded(load_api: Loader, aws: Repository) -> None:
    aws.save(_record(200, "road trips", datetime(2024, 1, 1, tzinfo=UTC), (("Car", 80.0),)), claim_hash=True)
    status, body, _ = call(load_api("iam"), "/api/albums/road%20trips/photos")
    assert status == 200 and body["album"] == "road trips" and body["count"] == 1


@pytest.mark.parametrize(
    "token",
    [
        "not-base64!!",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b"{not json").decode(),
        base64.urlsafe_b64encode(json.dumps({"PK": {"N": "1"}, "SK": {"S": "x"}}).encode()).decode(),
        "%00",
        "a" * 2049,
    ],
)
def test_malformed_token_is_400(load_api: Loader, token: str) -> None:
    status, body, _ = call(load_api("iam"), "/api/albums/pets/photos", {"next": token})
    assert status == 400, body
    assert body["error"]["code"] in ("BadPageToken", "BadRequest")


def test_a_token_from_another_album_is_refused(load_api: Loader, aws: Repository) -> None:
    app = load_api("iam")
    token = call(app, "/api/albums/pets/photos", {"limit": "2"})[1]["next_token"]
    aws.save(_record(300, "food", datetime(2023, 1, 1, tzinfo=UTC), (("Cake", 70.0),)), claim_hash=True)
    assert_error(call(app, "/api/albums/food/photos", {"next": token}), 400, "BadPageToken")


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-3"])
def test_bad_limit_is_400(load_api: Loader, limit: str) -> None:
    assert_error(call(load_api("iam"), "/api/albums/pets/photos", {"limit": limit}), 400, "BadRequest")


# ------------------------------------------------------------------------------------------------- photos
def test_photo_record_has_labels_reason_location_and_urls(load_api: Loader) -> None:
    status, body, _ = call(load_api("iam"), f"/api/photos/{image_id(3)}")
    assert status == 200
    assert [(x["name"], x["confidence"]) for x in body["labels"]] == [("Cat", 87.0), ("Animal", 97.0)]
    assert body["reason"] == "matched rule 'pets' with label 'Cat' (87.0%)"
    assert body["original_location"] == f"s3://{BUCKET}/albums/pets/2024/p3.jpg"
    assert body["albums"] == [{"album": "pets", "kind": "album", "label": "Cat", "confidence": 87.0}]
    assert body["metadata"]["width"] == 640
    assert body["faces"] is None
    assert urlsplit(body["urls"]["original"]).path.endswith("/albums/pets/2024/p3.jpg")
    assert urlsplit(body["urls"]["thumbnail"]).path.endswith(f"/thumbnails/{image_id(3)}.webp")


def test_urls_route(load_api: Loader) -> None:
    status, body, _ = call(load_api("iam"), f"/api/photos/{image_id(1)}/urls")
    assert status == 200 and set(body) == {"thumbnail", "original", "expires_at"}
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(seconds=100) < expires - datetime.now(UTC) <= timedelta(seconds=121)


def test_faces_are_shown_when_recorded(load_api: Loader, aws: Repository) -> None:
    """A record made with the face detector keeps its count and boxes; the API shows them."""
    face = {"left": 0.25, "top": 0.1, "width": 0.2, "height": 0.3, "confidence": 93.5}
    aws._db.update_item(
        TableName=TABLE,
        Key={"PK": {"S": f"IMAGE#{image_id(2)}"}, "SK": {"S": "IMAGE"}},
        UpdateExpression="SET faces = :f, face_count = :n",
        ExpressionAttributeValues={
            ":f": {"L": [{"M": {k: {"N": str(v)} for k, v in face.items()}}]},
            ":n": {"N": "1"},
        },
    )
    body = call(load_api("iam"), f"/api/photos/{image_id(2)}")[1]
    assert body["faces"] == [face]


@pytest.mark.parametrize("iid", ["f" * 32, "../../etc", "ABC", image_id(10).upper()])
def test_unknown_or_malformed_photo_id_is_404(load_api: Loader, iid: str) -> None:
    assert_error(call(load_api("iam"), f"/api/photos/{iid}"), 404, "NotFound")


def test_rejected_photo_gets_no_presigned_urls(load_api: Loader, aws: Repository) -> None:
    now = datetime.now(UTC)
    rec = ImageRecord(
        created_at=now,
        updated_at=now,
        image_id=image_id(400),
        bucket=BUCKET,
        source_key="incoming/x.jpg",
        destination_key="rejected/x-00000000.jpg",
        status=Status.REJECTED,
        reason="TruncatedImage: cut short",
    )
    aws.save(rec, claim_hash=False)
    body = call(load_api("iam"), f"/api/photos/{image_id(400)}")[1]
    assert body["urls"]["thumbnail"] is None and body["urls"]["original"] is None
    assert body["status"] == "rejected"


# ------------------------------------------------------------------------------------------------- search
def test_search_by_label_is_case_insensitive_and_paginates(load_api: Loader) -> None:
    app = load_api("iam")
    status, body, _ = call(app, "/api/search", {"label": "ESPRESSO"})
    assert status == 200 and [p["image_id"] for p in body["photos"]] == [image_id(100)]
    assert body["photos"][0]["label"] == "Espresso" and body["photos"][0]["confidence"] == 88.0
    found: list[str] = []
    token = None
    for _ in range(20):
        query = {"label": "cat", "limit": "2", **({"next": token} if token else {})}
        status, body, _ = call(app, "/api/search", query)
        assert status == 200
        found += [p["image_id"] for p in body["photos"]]
        token = body["next_token"]
        if not token:
            break
    assert sorted(found) == sorted(image_id(n) for n in range(7))
    assert call(app, "/api/search", {"label": "giraffe"})[1]["photos"] == []


def test_search_needs_a_label(load_api: Loader) -> None:
    assert_error(call(load_api("iam"), "/api/search"), 400, "BadRequest")
    assert_error(call(load_api("iam"), "/api/search", {"label": "cat", "next": "garbage"}), 400, "BadPageToken")


# --------------------------------------------------------------------------------------------------- auth
@pytest.mark.parametrize(
    ("auth", "authorizer"),
    [("iam", None), ("iam", JWT), ("iam", {"iam": {}}), ("cognito", None), ("cognito", IAM), ("cognito", {"jwt": {}})],
)
def test_requests_without_the_configured_identity_are_401(
    load_api: Loader, auth: str, authorizer: dict[str, Any] | None
) -> None:
    app = load_api(auth)
    for path in ("/api/albums", "/api/albums/pets/photos", f"/api/photos/{image_id(1)}", "/api/search"):
        assert_error(call(app, path, authorizer=authorizer), 401, "Unauthorized")


def test_each_mode_accepts_its_identity(load_api: Loader) -> None:
    assert call(load_api("iam"), "/api/albums", authorizer=IAM)[0] == 200
    assert call(load_api("cognito"), "/api/albums", authorizer=JWT)[0] == 200
    assert call(load_api("public"), "/api/albums", authorizer=None)[0] == 200


def test_default_mode_is_cognito(load_api: Loader, monkeypatch: pytest.MonkeyPatch) -> None:
    app = load_api("cognito")
    monkeypatch.delenv("PHOTOSORT_API_AUTH")
    from photosort.albums_api import ApiAuth, ApiSettings

    assert ApiSettings.from_env().auth is ApiAuth.COGNITO
    assert_error(call(app, "/api/albums", authorizer=None), 401, "Unauthorized")


def test_page_and_config_need_no_identity_and_reveal_no_data(load_api: Loader) -> None:
    app = load_api(
        "cognito", PHOTOSORT_COGNITO_DOMAIN="x.auth.us-east-1.amazoncognito.com", PHOTOSORT_COGNITO_CLIENT_ID="c1"
    )
    status, page, headers = call(app, "/", authorizer=None)
    assert status == 200 and "<title>photosort gallery</title>" in page
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "connect-src 'self' https://x.auth.us-east-1.amazoncognito.com" in headers["Content-Security-Policy"]
    status, config, _ = call(app, "/config.json", authorizer=None)
    assert config == {
        "auth": "cognito",
        "cognito": {"domain": "x.auth.us-east-1.amazoncognito.com", "client_id": "c1"},
        "api": "/api",
    }
    assert call(app, "/gallery.js", authorizer=None)[0] == 200


# ----------------------------------------------------------------------------------------------- errors
def test_unknown_route_is_404_in_the_error_shape(load_api: Loader) -> None:
    assert_error(call(load_api("iam"), "/api/nothing-here"), 404, "NotFound")


def test_store_failure_is_500_without_details(load_api: Loader, monkeypatch: pytest.MonkeyPatch) -> None:
    app = load_api("iam")

    def boom(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.repo, "list_albums", boom)
    status, body, _ = call(app, "/api/albums")
    assert status == 500 and body == {
        "error": {"code": "InternalError", "message": "unexpected error; see the function's logs"}
    }


def test_cors_only_for_the_configured_origin(load_api: Loader) -> None:
    app = load_api("iam", PHOTOSORT_ALLOWED_ORIGIN="https://photos.example.com")
    _, _, headers = call(app, "/api/albums", headers={"origin": "https://photos.example.com"})
    assert headers.get("Access-Control-Allow-Origin") == "https://photos.example.com"
    _, _, headers = call(app, "/api/albums", headers={"origin": "https://evil.example"})
    assert headers.get("Access-Control-Allow-Origin") != "https://evil.example"
    no_cors = load_api("iam", PHOTOSORT_ALLOWED_ORIGIN="")  # the template's default: no other origin
    _, _, headers = call(no_cors, "/api/albums", headers={"origin": "https://photos.example.com"})
    assert "Access-Control-Allow-Origin" not in headers


@pytest.mark.parametrize("path", ["/api%2Falbums", "/api%2falbums", "/API/albums", "/api"])
def test_the_open_asset_route_never_reaches_the_data(load_api: Loader, path: str) -> None:
    """GET /{asset} has no authorizer: whatever one segment it carries, it must not serve an album."""
    status, body, _ = call(load_api("cognito"), path, authorizer=None)
    assert status in (401, 404), body
    assert "albums" not in body or set(body) == {"error"}


# ------------------------------------------------------------------------------------------------- thumbnails
def test_the_thumbnail_route_makes_one_on_first_view_and_keeps_it(load_api: Loader, aws: Repository) -> None:
    import hashlib
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (640, 320), (200, 80, 40)).save(out, format="JPEG")
    data = out.getvalue()
    record = _record(200, "pets", datetime(2024, 6, 1, tzinfo=UTC), (("Cat", 91.0),))
    record = record.model_copy(update={"sha256": hashlib.sha256(data).hexdigest()})
    aws.save(record, claim_hash=True)
    boto3.client("s3").put_object(Bucket=BUCKET, Key=record.destination_key, Body=data)
    app = load_api("iam")

    status, body, _ = call(app, f"/api/photos/{image_id(200)}/thumbnail")
    assert status == 200 and body["made"] is True and body["image_id"] == image_id(200)
    assert urlsplit(body["url"]).path.endswith(f"/thumbnails/{image_id(200)}.webp")
    stored = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"thumbnails/{image_id(200)}.webp")
    assert Image.open(io.BytesIO(stored["Body"].read())).size == (320, 160)
    again = call(app, f"/api/photos/{image_id(200)}/thumbnail")
    assert again[0] == 200 and again[1]["made"] is False
    assert_error(call(app, f"/api/photos/{image_id(999)}/thumbnail"), 404, "NotFound")
