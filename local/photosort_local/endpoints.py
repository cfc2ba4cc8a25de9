"""The boto3 session for a CLI command: the normal AWS chain, or ``photosort local serve`` behind --endpoint-url.

moto's server takes any region and any credentials, but boto3 still refuses to sign a request without them
("You must specify a region", then "Unable to locate credentials"). For an endpoint on this machine
(127.0.0.1, localhost, ::1) the local stack's region and dummy credentials fill whatever the environment
does not set. Anywhere else nothing is invented: a missing region or credentials is a clear error that names
the export or option that supplies it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import boto3

from photosort.errors import PhotosortError

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})
LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class AwsSetupError(PhotosortError):
    """No region or no credentials for a real AWS endpoint."""


def is_local(endpoint_url: str | None) -> bool:
    """True for an endpoint on this machine, such as the one ``photosort local serve`` prints."""
    if not endpoint_url:
        return False
    try:
        host = urlsplit(endpoint_url).hostname
    except ValueError:
        return False
    return host in LOCAL_HOSTS or (host or "").startswith("127.")


def session(endpoint_url: str | None, region: str | None) -> boto3.session.Session:
    """A session with a region and credentials, or an :class:`AwsSetupError` saying which export is missing."""
    found = boto3.session.Session(region_name=region)
    local = is_local(endpoint_url)
    if local and (found.region_name is None or found.get_credentials() is None):
        return boto3.session.Session(
            region_name=found.region_name or LOCAL_REGION,
            **({} if found.get_credentials() is not None else LOCAL_CREDENTIALS),
        )
    if found.region_name is None:
        raise AwsSetupError("no AWS region: pass --region or export AWS_DEFAULT_REGION=<region> (or AWS_REGION)")
    if found.get_credentials() is None:
        raise AwsSetupError(
            "no AWS credentials: export AWS_PROFILE=<profile> (see `aws configure`), or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY"
        )
    return found
