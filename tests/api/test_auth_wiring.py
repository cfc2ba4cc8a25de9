"""The albums API's auth as the template wires it (after the SAM translator), and Cognito's tokens against it.

moto's cognito-idp makes the template's user pool and app client and issues real RS256 JWTs for a user;
moto does not run API Gateway's authorizers, so ``photosort_local.gallery.JwtAuthorizer`` applies the
template's JwtConfiguration the way AWS documents the JWT authorizer. These tests pin both halves: what the
template asks API Gateway to check, and that Cognito's tokens pass exactly those checks and nothing else does.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from photosort_local import sam
from photosort_local.gallery import JwtAuthorizer, LocalUserPool, TokenRejected

REGION = "us-east-1"
USER, PASSWORD = "viewer@example.com", "Correct-Horse-Battery-9"
GALLERY_URL = {"Fn::Sub": "https://${AlbumsHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"}
ROOT = Path(__file__).resolve().parents[2]


def load_template() -> dict[str, Any]:
    return sam.load_sam_template(ROOT / "template.yaml")


def translate(template: dict[str, Any]) -> dict[str, Any]:
    """What SAM deploys (local code URIs swapped for S3 URIs), as tests/static sees it."""
    return sam.translate(template, ROOT, lambda logical_id, _folder, _src: f"s3://artifacts/{logical_id}.zip")


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return translate(load_template())


def _resolve(value: Any, auth: str) -> Any:
    """Fn::If on the API's auth conditions, for one ApiAuth value."""
    truth = {"ApiUsesCognito": auth == "cognito", "ApiUsesIam": auth == "iam"}
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        name, yes, no = value["Fn::If"]
        return _resolve(yes if truth[name] else no, auth)
    return value


def _routes(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    resources = cfn["Resources"]
    return {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::ApiGatewayV2::Route"
    }


# ----------------------------------------------------------------------------------------- the template
def test_the_default_is_cognito_and_public_is_an_explicit_choice(cfn: dict[str, Any]) -> None:
    param = cfn["Parameters"]["ApiAuth"]
    assert param["Default"] == "cognito" and param["AllowedValues"] == ["cognito", "iam", "public"]


@pytest.mark.parametrize(("auth", "kind"), [("cognito", "JWT"), ("iam", "AWS_IAM"), ("public", "NONE")])
def test_every_data_route_has_the_chosen_authorizer_and_only_the_page_is_open(
    cfn: dict[str, Any], auth: str, kind: str
) -> None:
    routes = _routes(cfn)
    assert set(routes) == {"GET /api/{proxy+}", "GET /", "GET /{asset}"}  # no $default route catching the rest
    data = routes["GET /api/{proxy+}"]
    assert _resolve(data["AuthorizationType"], auth) == kind
    authorizer = _resolve(data["AuthorizerId"], auth)
    assert authorizer == ({"Ref": "AlbumsApiAuthorizer"} if auth == "cognito" else {"Ref": "AWS::NoValue"})
    for page in ("GET /", "GET /{asset}"):
        assert routes[page]["AuthorizationType"] == "NONE"  # static page, CSS, JS and config.json only
    assert {json.dumps(r["Target"]) for r in routes.values()} == {
        json.dumps({"Fn::Sub": "integrations/${AlbumsApiIntegration}"})
    }


def test_the_jwt_authorizer_trusts_only_the_stacks_pool_and_gallery_client(cfn: dict[str, Any]) -> None:
    resources = cfn["Resources"]
    authorizer = resources["AlbumsApiAuthorizer"]
    assert authorizer["Condition"] == "ApiUsesCognito"
    props = authorizer["Properties"]
    assert props["AuthorizerType"] == "JWT" and props["IdentitySource"] == ["$request.header.Authorization"]
    assert props["JwtConfiguration"] == {
        "Audience": [{"Ref": "GalleryUserPoolClient"}],
        "Issuer": {"Fn::Sub": "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${GalleryUserPool}"},
    }


def test_the_gallery_client_is_a_public_pkce_client_returning_to_the_gallery(cfn: dict[str, Any]) -> None:
    resources = cfn["Resources"]
    client = resources["GalleryUserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False and client["AllowedOAuthFlows"] == ["code"]  # no implicit flow
    assert "openid" in client["AllowedOAuthScopes"] and client["SupportedIdentityProviders"] == ["COGNITO"]
    for urls in (client["CallbackURLs"], client["LogoutURLs"]):  # the API's page, and a copy on the CORS origin
        assert urls == {"Fn::If": ["HasApiOrigin", [GALLERY_URL, {"Fn::Sub": "${ApiAllowedOrigin}/"}], [GALLERY_URL]]}
    assert cfn["Outputs"]["GalleryUrl"]["Value"] == GALLERY_URL
    assert resources["GalleryUserPool"]["Properties"]["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    env = resources["AlbumsApiFunction"]["Properties"]["Environment"]["Variables"]
    assert env["PHOTOSORT_COGNITO_CLIENT_ID"] == {"Fn::If": ["ApiUsesCognito", {"Ref": "GalleryUserPoolClient"}, ""]}
    domain = env["PHOTOSORT_COGNITO_DOMAIN"]["Fn::If"][1]["Fn::Sub"]
    assert domain == "${GalleryUserPoolDomain}.auth.${AWS::Region}.amazoncognito.com"


@pytest.mark.parametrize("origin", ["", "https://photos.example.com"])
def test_cors_is_off_unless_one_origin_is_configured(cfn: dict[str, Any], origin: str) -> None:
    cors = cfn["Resources"]["AlbumsHttpApi"]["Properties"]["CorsConfiguration"]["Fn::If"]
    assert cors[0] == "HasApiOrigin" and cors[2] == {"Ref": "AWS::NoValue"}
    assert cors[1]["AllowOrigins"] == [{"Ref": "ApiAllowedOrigin"}] and cors[1]["AllowMethods"] == ["GET"]
    env = cfn["Resources"]["AlbumsApiFunction"]["Properties"]["Environment"]["Variables"]
    assert env["PHOTOSORT_ALLOWED_ORIGIN"] == {"Ref": "ApiAllowedOrigin"}  # the handler's CORS: the same origin


# ------------------------------------------------------------------------------ Cognito's tokens against it
@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalUserPool, JwtAuthorizer]]:
    for key, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    resources = load_template()["Resources"]
    with mock_aws():
        made = LocalUserPool.create(boto3.client("cognito-idp"), resources, "photosort", REGION, "http://127.0.0.1:1/")
        made.add_user(USER, PASSWORD)
        yield made, made.authorizer(resources)


def test_the_templates_issuer_is_the_one_cognito_signs_as(pool: tuple[LocalUserPool, JwtAuthorizer]) -> None:
    made, authorizer = pool
    assert authorizer.issuer == f"https://cognito-idp.{REGION}.amazonaws.com/{made.pool_id}"
    assert authorizer.audience == (made.client_id,)
    token = made.sign_in(USER, PASSWORD)["IdToken"]
    assert _claims(token)["iss"] == authorizer.issuer


def _claims(token: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==")))


def _forge(token: str, **changes: Any) -> str:
    head, _, signature = token.split(".")
    body = base64.urlsafe_b64encode(json.dumps({**_claims(token), **changes}).encode()).rstrip(b"=").decode()
    return f"{head}.{body}.{signature}"


def test_the_pools_id_and_access_tokens_pass_with_or_without_bearer(pool: tuple[LocalUserPool, JwtAuthorizer]) -> None:
    made, authorizer = pool
    tokens = made.sign_in(USER, PASSWORD)
    claims = authorizer.claims(f"Bearer {tokens['IdToken']}")
    assert claims["email"] == USER and claims["aud"] == made.client_id and claims["token_use"] == "id"  # noqa: S105 - a claim, not a password
    assert claims["exp"].isdigit()  # passed on as strings, as API Gateway does
    assert authorizer.claims(tokens["AccessToken"])["client_id"] == made.client_id  # no aud: client_id counts


def test_tokens_the_authorizer_refuses(pool: tuple[LocalUserPool, JwtAuthorizer]) -> None:
    made, authorizer = pool
    token = made.sign_in(USER, PASSWORD)["IdToken"]
    other_client = made.cognito.create_user_pool_client(UserPoolId=made.pool_id, ClientName="other")
    other_client_id = other_client["UserPoolClient"]["ClientId"]
    other = made.cognito.admin_initiate_auth(
        UserPoolId=made.pool_id,
        ClientId=other_client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": USER, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]["IdToken"]
    elsewhere = LocalUserPool.create(made.cognito, load_template()["Resources"], "another", REGION, "http://x/")
    elsewhere.add_user(USER, PASSWORD)  # moto signs every pool with one key: only iss tells them apart
    foreign = elsewhere.sign_in(USER, PASSWORD)["IdToken"]
    none_alg = ".".join(
        (
            base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode(),
            token.split(".")[1],
            "",
        )
    )
    refused = {
        "missing": None,
        "empty bearer": "Bearer ",
        "not a jwt": "garbage",
        "tampered claims": _forge(token, email="someone@example.com"),
        "alg none": none_alg,
        "another client of the pool": other,
        "another pool": foreign,
    }
    for name, value in refused.items():
        with pytest.raises(TokenRejected):
            authorizer.claims(value)
            pytest.fail(f"accepted: {name}")
    with pytest.raises(TokenRejected, match="exp"):
        authorizer.claims(token, now=time.time() + 7200)  # expired: Cognito's tokens last an hour here
    with pytest.raises(TokenRejected, match="iat"):
        authorizer.claims(token, now=time.time() - 600)  # issued in the future
    assert authorizer.claims(token)["sub"] == _claims(token)["sub"]  # and the genuine one still passes
