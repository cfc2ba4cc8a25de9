"""Routing rules: which album or inventory category a photo belongs to, and the key it moves to.

Rules are data (JSON, or YAML through the CLI), validated with pydantic before any photo is touched.
A rule matches a label when the label's name or any of its parents equals one of the rule's labels
(case-insensitive) with at least the rule's minimum confidence. Every matching rule makes a membership;
the first matching rule, in file order, is the primary destination where the object itself lives.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import resources
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from photosort import constants
from photosort.errors import ConfigurationError, describe_validation
from photosort.models import CollectionKind, ImageMetadata, Label, Membership

PRESETS = ("family", "dealership")
TEMPLATE_FIELDS = frozenset({"year", "month", "day", "stem", "ext", "sha8", "label", "album"})
DEFAULT_PATH = "{year}/{stem}-{sha8}{ext}"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_UNSAFE_KEY_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes


def cut_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` within ``max_bytes`` UTF-8 bytes (never splits a character)."""
    return text.encode()[: max(0, max_bytes)].decode("utf-8", "ignore")


def _check_template(value: str) -> str:
    fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    unknown = sorted(fields - TEMPLATE_FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {unknown} in path template; allowed: {sorted(TEMPLATE_FIELDS)}")
    if "sha8" not in fields:
        # The content-hash suffix is what keeps two different IMG_0001.jpg from colliding.
        raise ValueError("path template must contain {sha8} so different photos never share a key")
    if value.startswith("/") or ".." in PurePosixPath(value).parts:
        raise ValueError("path template must be relative and must not contain '..'")
    return value


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    album: str = Field(description="Album or inventory category name: lowercase letters, digits, . _ -")
    kind: CollectionKind = CollectionKind.ALBUM
    labels: tuple[str, ...] = Field(min_length=1, description="Label names; a label's parents match too")
    min_confidence: float | None = Field(None, ge=0, le=100)
    path: str = DEFAULT_PATH

    @field_validator("album")
    @classmethod
    def _album_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} is not a valid name: use 1-63 lowercase letters, digits, '.', '_' or '-'")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(v.strip() for v in value)
        if any(not v for v in cleaned):
            raise ValueError("labels must not be empty strings")
        return cleaned

    _path = field_validator("path")(classmethod(lambda cls, v: _check_template(v)))


class RuleSet(BaseModel):
    """A rules file. ``min_confidence`` is the default for rules that do not set their own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(1, ge=1, le=1)
    min_confidence: float = Field(60.0, ge=0, le=100)
    rules: tuple[Rule, ...] = Field(min_length=1)
    unsorted_path: str = DEFAULT_PATH

    _unsorted = field_validator("unsorted_path")(classmethod(lambda cls, v: _check_template(v)))

    @model_validator(mode="after")
    def _unique_albums(self) -> RuleSet:
        seen: dict[str, CollectionKind] = {}
        for rule in self.rules:
            if seen.get(rule.album, rule.kind) is not rule.kind:
                raise ValueError(f"album {rule.album!r} is used both as an album and as an inventory category")
            seen[rule.album] = rule.kind
        return self


def parse_rules(text: str, *, source: str = "rules") -> RuleSet:
    """Parse and validate a JSON rules document; errors name the field and the problem."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{source}: not valid JSON: {exc}") from exc
    return validate_rules(data, source=source)


def validate_rules(data: object, *, source: str = "rules") -> RuleSet:
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(f"{source}: invalid rules: {describe_validation(exc, '(top level)')}") from exc


def load_rules(spec: str) -> RuleSet:
    """``spec`` is a bundled preset name (``family``, ``dealership``) or an inline JSON document."""
    spec = spec.strip()
    if spec in PRESETS:
        text = resources.files("photosort.rules").joinpath(f"{spec}.json").read_text(encoding="utf-8")
        return parse_rules(text, source=f"preset {spec!r}")
    if spec.startswith("{"):
        return parse_rules(spec, source=f"{constants.RULES} (inline JSON)")
    raise ConfigurationError(f"{constants.RULES}: {spec!r} is neither a preset {list(PRESETS)} nor a JSON document")


class RulesSource:
    """The rules a function applies: the ``PHOTOSORT_RULES`` value, or an SSM parameter when one is named.

    An SSM document is read through Powertools Parameters and cached for ``max_age`` seconds, so rules can
    change without a deployment; each new document is validated before use, and an invalid one raises
    ConfigurationError (the photo goes to failed/ with that reason) rather than falling back silently.
    """

    def __init__(self, spec: str, parameter_name: str | None = None, max_age: int = 300) -> None:
        self._parameter = parameter_name
        self._max_age = max_age
        self._static = None if parameter_name else load_rules(spec)
        self._parsed: tuple[str, RuleSet] | None = None
        if parameter_name:
            self.current()  # fail at start-up, before any photo is touched

    def current(self) -> RuleSet:
        if self._static is not None:
            return self._static
        from aws_lambda_powertools.utilities import parameters

        assert self._parameter is not None
        text = str(parameters.get_parameter(self._parameter, max_age=self._max_age))
        if self._parsed is None or self._parsed[0] != text:
            self._parsed = (text, parse_rules(text, source=f"SSM parameter {self._parameter}"))
        return self._parsed[1]


def _matches(rule_labels: Iterable[str], label: Label) -> bool:
    names = {label.name.casefold(), *(p.casefold() for p in label.parents), *(c.casefold() for c in label.categories)}
    return any(r.casefold() in names for r in rule_labels)


def match(rules: RuleSet, labels: Iterable[Label]) -> tuple[Membership, ...]:
    """All memberships, primary first: one per matching rule, each with the best label that passed it."""
    ordered = sorted(labels, key=lambda lab: lab.confidence, reverse=True)
    memberships: list[Membership] = []
    for rule in rules.rules:
        threshold = rules.min_confidence if rule.min_confidence is None else rule.min_confidence
        best = next((lab for lab in ordered if lab.confidence >= threshold and _matches(rule.labels, lab)), None)
        if best is not None and all(m.album != rule.album for m in memberships):
            memberships.append(
                Membership(album=rule.album, kind=rule.kind, label=best.name, confidence=best.confidence)
            )
    return tuple(memberships)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-") or "label"


def render_key(
    prefix: str,
    template: str,
    *,
    source_key: str,
    sha256: str,
    when: datetime,
    label: str = "",
    album: str = "",
    fmt: str | None = None,
) -> str:
    """The destination key: ``prefix`` + rendered template, keeping the original file name's stem."""
    name = PurePosixPath(source_key).name or "object"
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, (fmt or "").lower().replace("jpeg", "jpg")
    stem = _UNSAFE_KEY_CHARS.sub("_", stem)[:150]
    ext = _UNSAFE_KEY_CHARS.sub("_", ext.lower())[:10]

    def render(stem: str) -> str:
        return prefix + template.format(
            year=f"{when.year:04d}",
            month=f"{when.month:02d}",
            day=f"{when.day:02d}",
            stem=stem,
            ext=f".{ext}" if ext else "",
            sha8=sha256[:8],
            label=_slug(label),
            album=album,
        )

    key = render(stem)
    while (excess := len(key.encode()) - MAX_KEY_BYTES) > 0 and stem:  # long folders or a long multi-byte name
        stem = cut_utf8(stem, len(stem.encode()) - excess)
        key = render(stem)
    return key


def destination_for(membership: Membership | None, rules: RuleSet) -> tuple[str, str]:
    """(prefix, template) for a primary membership, or for unsorted/ when there is none."""
    if membership is None:
        return constants.UNSORTED_PREFIX, rules.unsorted_path
    rule = next(r for r in rules.rules if r.album == membership.album)
    base = constants.ALBUMS_PREFIX if rule.kind is CollectionKind.ALBUM else constants.INVENTORY_PREFIX
    return f"{base}{rule.album}/", rule.path


def relative_source(source_key: str) -> str:
    """The key below incoming/, used to mirror the user's folders under rejected/, failed/ and duplicates/."""
    if source_key.startswith(constants.INCOMING_PREFIX):
        return source_key[len(constants.INCOMING_PREFIX) :]
    return source_key


ASIDE_TEMPLATE = "{stem}-{sha8}{ext}"
_UNDATED = datetime(1970, 1, 1, tzinfo=UTC)  # ASIDE_TEMPLATE has no date fields


def aside_key(prefix: str, source_key: str, sha256: str | None) -> str:
    """A key under rejected/, failed/ or duplicates/ that mirrors the user's folders below incoming/.

    The hash suffix keeps different files with the same name apart; folders are cut (never the name) so the
    key stays within S3's limit.
    """
    relative = PurePosixPath(relative_source(source_key))
    folder = "" if str(relative.parent) in (".", "") else f"{relative.parent}/"
    room = MAX_KEY_BYTES - len(prefix.encode()) - 64  # leave 64 bytes for "<stem>-<sha8><ext>"
    if len(folder.encode()) > room:
        folder = cut_utf8(folder, room).rstrip("/") + "/"
    return render_key(
        f"{prefix}{folder}", ASIDE_TEMPLATE, source_key=source_key, sha256=sha256 or "00000000", when=_UNDATED
    )


def when_taken(metadata: ImageMetadata | None, fallback: datetime) -> datetime:
    return metadata.taken_at if metadata is not None and metadata.taken_at is not None else fallback
