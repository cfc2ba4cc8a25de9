"""``photosort albums`` and ``photosort album NAME``: query a deployed (or served) stack's table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photosort_local import report
from photosort_local.cli.common import PROG, CliError, UsageError, positive_int

if TYPE_CHECKING:
    from photosort.repository import Repository
    from photosort_local.cli.common import Subcommands
    from photosort_local.localsort.state import SortState


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    target = parser.add_argument_group("which table (normal AWS credential chain)")
    target.add_argument("--table", help="the DynamoDB table name")
    target.add_argument(
        "--stack",
        default="photosort",
        help="read the table from this CloudFormation stack's PhotoTableName output (default photosort)",
    )
    target.add_argument("--endpoint-url", help="an AWS-compatible endpoint, e.g. the one `local serve` prints")
    target.add_argument("--region", help="AWS region (default: from your AWS configuration)")
    target.add_argument(
        "--local",
        metavar="DIR",
        help="read the state `photosort local sort --out DIR` keeps in DIR/.photosort instead of a table",
    )
    parser.add_argument("--json", action="store_true", help="JSON for scripts")


def add_parser(subcommands: Subcommands) -> None:
    albums = subcommands.add_parser("albums", help="list albums and inventory categories with their photo counts")
    _add_target_options(albums)
    albums.set_defaults(run=run)
    album = subcommands.add_parser("album", help="list one album's photos, newest first")
    album.add_argument("name", help="album or inventory category name")
    album.add_argument("--limit", type=positive_int, default=50, help="photos per page (default 50)")
    album.add_argument("--next-token", help="the token the previous page printed")
    _add_target_options(album)
    album.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return list_album(args) if args.command == "album" else list_albums(args)


def target_repository(args: argparse.Namespace) -> Repository:
    """The table named by --table, or the PhotoTableName output of --stack, through the usual AWS chain."""
    from photosort.repository import Repository
    from photosort_local import endpoints

    session = endpoints.session(args.endpoint_url, args.region)

    def client(service: str) -> Any:
        # boto3-stubs types clients only for literal service names; this one is chosen at run time.
        return session.client(service, endpoint_url=args.endpoint_url)  # type: ignore[call-overload]

    table = args.table
    if not table:
        stack = client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        if "PhotoTableName" not in outputs:
            raise CliError(f"stack {args.stack} has no PhotoTableName output; is it a photosort stack?")
        table = outputs["PhotoTableName"]
    return Repository(client("dynamodb"), table)


def _local_state(args: argparse.Namespace) -> SortState:
    from photosort_local.localsort.state import SortState

    try:
        return SortState(Path(args.local), create=False)
    except FileNotFoundError as exc:
        raise CliError(
            f"--local {args.local}: no local sort state here (run `{PROG} local sort ... --out DIR`)"
        ) from exc


def list_albums(args: argparse.Namespace) -> int:
    if args.local:
        with _local_state(args) as state:
            albums = state.list_albums()
    else:
        albums = target_repository(args).list_albums()
    if args.json:
        report.print_json({"albums": report.albums_json(albums)}, sys.stdout)
    else:
        report.print_albums(albums, sys.stdout)
    return 0


def _list_local_album(args: argparse.Namespace) -> int:
    from photosort.models import AlbumEntry, Page

    with _local_state(args) as state:
        albums = {a.album: a for a in state.list_albums()}
        if args.name not in albums:
            raise CliError(f"no album named {args.name}; albums: {', '.join(sorted(albums)) or '(none yet)'}")
        members = state.album_members(args.name)
    items = [AlbumEntry(album=args.name, image_id=m.pop("image_id"), **m) for m in members[: args.limit]]
    page = Page(items=items, next_token=None)
    if args.json:
        report.print_json(report.album_page_json(albums[args.name], page), sys.stdout)
    else:
        report.print_album_page(albums[args.name], page, sys.stdout)
    return 0


def list_album(args: argparse.Namespace) -> int:
    if args.local:
        return _list_local_album(args)
    repo = target_repository(args)
    albums = {a.album: a for a in repo.list_albums()}
    if args.name not in albums:
        raise CliError(f"no album named {args.name}; albums: {', '.join(sorted(albums)) or '(none yet)'}")
    try:
        page = repo.list_album(args.name, limit=args.limit, next_token=args.next_token)
    except ValueError as exc:  # a token that is not base64 JSON
        raise UsageError(f"--next-token is not a token {PROG} printed: {exc}") from exc
    if args.json:
        report.print_json(report.album_page_json(albums[args.name], page), sys.stdout)
    else:
        report.print_album_page(albums[args.name], page, sys.stdout)
    return 0
