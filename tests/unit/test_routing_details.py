"""routing's smaller contracts, each pinned (found by ``make mutation MODULES=photosort.routing``): every template
field, file names without or with odd extensions, S3's 1,024-byte key limit, the keys of photos set aside, and
where the rules come from."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from photosort import routing
from photosort.errors import ConfigurationError
from photosort.models import CollectionKind, Label, Membership

SHA = "abcdef0123456789"
WHEN = datetime(2024, 7, 3)


def key(source_key: str, template: str = "{stem}-{sha8}{ext}", prefix: str = "albums/x/", **kw: Any) -> str:
    return routing.render_key(prefix, template, source_key=source_key, sha256=SHA, when=WHEN, **kw)


# -- templates ----------------------------------------------------------------------------------------------------
def test_every_template_field_is_rendered() -> None:
    template = "{year}/{month}/{day}/{label}/{album}/{stem}-{sha8}{ext}"

    rendered = key("incoming/trip/IMG_1.jpeg", template, label="Golden Retriever!", album="dogs")

    assert rendered == "albums/x/2024/07/03/golden-retriever/dogs/IMG_1-abcdef01.jpeg"


def test_label_and_album_default_to_a_placeholder_and_nothing() -> None:
    assert key("incoming/a.jpg", "{label}/{album}-{sha8}{ext}") == "albums/x/label/-abcdef01.jpg"


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        (" Cat! ", "cat"),
        ("Golden  Retriever", "golden-retriever"),
        ("Ünïcode", "n-code"),
        ("!!!", "label"),
        ("", "label"),
    ],
)
def test_labels_become_lowercase_dash_slugs(text: str, slug: str) -> None:
    assert key("a.jpg", "{label}/{sha8}", label=text) == f"albums/x/{slug}/abcdef01"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("/{year}/{sha8}", "must be relative"),
        ("a/../{sha8}", "must not contain '..'"),
        ("{colour}/{sha8}", "unknown field(s) ['colour']"),
        ("{year}/{stem}", "must contain {sha8}"),
    ],
)
def test_bad_path_templates_are_refused(template: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        routing.validate_rules({"rules": [{"album": "a", "labels": ["Cat"], "path": template}]})
    assert message in str(error.value)
    with pytest.raises(ConfigurationError):
        routing.validate_rules({"rules": [{"album": "a", "labels": ["Cat"]}], "unsorted_path": template})


def test_a_good_template_is_kept_as_written() -> None:
    rules = routing.validate_rules({"rules": [{"album": "a", "labels": ["Cat"], "path": "{label}/{day}-{sha8}{ext}"}]})
    assert rules.rules[0].path == "{label}/{day}-{sha8}{ext}"


# -- file names ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source_key", "fmt", "expected"),
    [
        ("incoming/IMG_0001", "JPEG", "IMG_0001-abcdef01.jpg"),  # no extension: the decoded format's
        ("incoming/IMG_0001", "PNG", "IMG_0001-abcdef01.png"),
        ("incoming/IMG_0001", None, "IMG_0001-abcdef01"),  # nor a format: no extension at all
        ("incoming/.jpg", "jpeg", ".jpg-abcdef01.jpg"),  # a dot file: the whole name is the stem
        ("incoming/a.b.JPG", None, "a.b-abcdef01.jpg"),  # the last dot splits, the extension is lower-cased
        ("incoming/a\x01b.jp\x7fg", None, "a_b-abcdef01.jp_g"),  # control characters are replaced
        ("", "png", "object-abcdef01.png"),
    ],
)
def test_file_names_without_or_with_odd_extensions(source_key: str, fmt: str | None, expected: str) -> None:
    assert key(source_key, fmt=fmt) == f"albums/x/{expected}"


def test_long_stems_and_extensions_are_cut() -> None:
    assert key("incoming/" + "s" * 200 + ".abcdefghijkl") == "albums/x/" + "s" * 150 + "-abcdef01.abcdefghij"


# -- S3's key limit -----------------------------------------------------------------------------------------------
def test_a_key_of_exactly_1024_bytes_is_kept_whole() -> None:
    prefix = "albums/" + "p" * (1024 - len("albums/") - 1 - len("name-abcdef01.jpg")) + "/"  # 1024 bytes in all
    rendered = key("incoming/name.jpg", prefix=prefix)
    assert len(rendered.encode()) == 1024 and rendered.endswith("/name-abcdef01.jpg")


def test_a_key_over_1024_bytes_loses_the_end_of_its_stem_never_half_a_character() -> None:
    prefix = "albums/" + "p" * 900 + "/"
    over_by_one = key("incoming/" + "n" * (1025 - len(prefix) - len("-abcdef01.jpg")) + ".jpg", prefix=prefix)
    assert len(over_by_one.encode()) == 1024

    rendered = key("incoming/" + "é" * 100 + ".jpg", prefix=prefix)

    stem = rendered[len(prefix) : -len("-abcdef01.jpg")]
    assert rendered.startswith(prefix) and rendered.endswith("-abcdef01.jpg")
    assert stem == "é" * len(stem) and len(rendered.encode()) in (1023, 1024)  # é is 2 bytes: never split


def test_cut_utf8_never_splits_a_character_and_never_goes_negative() -> None:
    assert routing.cut_utf8("aé", 2) == "a"
    assert routing.cut_utf8("aé", 3) == "aé"
    assert routing.cut_utf8("abc", -5) == ""


# -- keys of photos set aside -------------------------------------------------------------------------------------
def test_aside_keys_mirror_the_folders_below_incoming() -> None:
    assert routing.aside_key("rejected/", "incoming/a.jpg", SHA) == "rejected/a-abcdef01.jpg"
    assert routing.aside_key("failed/", "incoming/trip/day 1/a.jpg", SHA) == "failed/trip/day 1/a-abcdef01.jpg"
    assert routing.aside_key("failed/", "elsewhere/a.jpg", SHA) == "failed/elsewhere/a-abcdef01.jpg"
    assert routing.aside_key("failed/", "incoming/a.jpg", None) == "failed/a-00000000.jpg"  # not hashed yet


def test_an_aside_key_cuts_long_folders_at_a_slash_boundary_and_keeps_the_name() -> None:
    room = routing.MAX_KEY_BYTES - len("failed/") - 64
    folder = "a" * (room - 2) + "X/" + "b" * 100 + "/"  # the cut falls just after the first slash

    aside = routing.aside_key("failed/", f"incoming/{folder}photo.jpg", SHA)

    assert aside == "failed/" + "a" * (room - 2) + "X/photo-abcdef01.jpg"


def test_an_aside_key_cuts_a_long_folder_name_to_the_room_left() -> None:
    room = routing.MAX_KEY_BYTES - len("failed/") - 64

    aside = routing.aside_key("failed/", "incoming/" + "a" * 2000 + "/photo.jpg", SHA)

    assert aside == "failed/" + "a" * room + "/photo-abcdef01.jpg"


# -- destinations and matching ------------------------------------------------------------------------------------
def test_inventory_categories_live_under_inventory() -> None:
    rules = routing.validate_rules(
        {"rules": [{"album": "suvs", "kind": "inventory", "labels": ["SUV"]}, {"album": "pets", "labels": ["Cat"]}]}
    )
    suv = Membership(album="suvs", kind=CollectionKind.INVENTORY, label="SUV", confidence=90)
    pet = Membership(album="pets", kind=CollectionKind.ALBUM, label="Cat", confidence=90)
    assert routing.destination_for(suv, rules) == ("inventory/suvs/", "{year}/{stem}-{sha8}{ext}")
    assert routing.destination_for(pet, rules)[0] == "albums/pets/"


def test_a_membership_names_the_most_confident_label_that_passed() -> None:
    rules = routing.validate_rules({"rules": [{"album": "pets", "labels": ["Cat"]}]})
    labels = [
        Label(name="Cat", confidence=70),
        Label(name="Tabby", confidence=95, parents=("Cat",)),
        Label(name="Kitten", confidence=80, parents=("Cat",)),
    ]

    (membership,) = routing.match(rules, labels)

    assert (membership.label, membership.confidence) == ("Tabby", 95)


# -- where the rules come from --------------------------------------------------------------------------------------
def test_rules_errors_name_their_source_and_where_in_the_document() -> None:
    with pytest.raises(ConfigurationError, match=r"^rules: not valid JSON"):
        routing.parse_rules("{")
    with pytest.raises(ConfigurationError, match=r"^rules: invalid rules: \(top level\)"):
        routing.validate_rules(["not", "a", "document"])
    with pytest.raises(ConfigurationError, match=r"^my-file: invalid rules: rules"):
        routing.parse_rules('{"rules": []}', source="my-file")


def test_inline_rules_errors_name_the_setting() -> None:
    with pytest.raises(ConfigurationError, match=r"^PHOTOSORT_RULES \(inline JSON\): invalid rules"):
        routing.load_rules(json.dumps({"rules": []}))
    with pytest.raises(ConfigurationError, match=r"^PHOTOSORT_RULES: 'x' is neither a preset"):
        routing.load_rules(" x ")


def test_static_rules_never_read_ssm(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities import parameters

    monkeypatch.setattr(parameters, "get_parameter", lambda *a, **kw: pytest.fail("read SSM"))

    source = routing.RulesSource(" family ")

    assert source.current() is source.current()
    assert source.current().rules == routing.load_rules("family").rules


def test_ssm_rules_are_cached_five_minutes_and_each_document_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities import parameters

    documents = [json.dumps({"rules": [{"album": "a", "labels": ["Cat"]}]})] * 2 + [
        json.dumps({"rules": [{"album": "b", "labels": ["Dog"]}]})
    ]
    reads: list[tuple[str, Any]] = []
    parsed: list[str] = []
    real_parse = routing.parse_rules

    def get_parameter(name: str, max_age: Any = None) -> str:
        reads.append((name, max_age))
        return documents[min(len(reads), len(documents)) - 1]

    monkeypatch.setattr(parameters, "get_parameter", get_parameter)
    monkeypatch.setattr(
        routing, "parse_rules", lambda text, source: parsed.append(source) or real_parse(text, source=source)
    )

    source = routing.RulesSource("family", parameter_name="/photosort/rules")  # read 1 (start-up): a, parsed
    first = source.current()  # read 2: a again, not parsed again
    second = source.current()  # read 3: b, parsed

    assert [r.album for r in first.rules] == ["a"] and [r.album for r in second.rules] == ["b"]
    assert source.current() is second  # read 4: b again, the same parsed rules
    assert reads == [("/photosort/rules", 300)] * 4
    assert parsed == ["SSM parameter /photosort/rules"] * 2
