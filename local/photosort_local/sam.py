"""Turn template.yaml into the CloudFormation that ``sam build && sam package`` would deploy.

Local ``CodeUri``/``ContentUri`` folders are zipped into an artifacts bucket (as ``sam package`` does) and
``DefinitionUri`` is inlined as ``Definition`` (as ``sam build`` resolves it), keeping
``DefinitionSubstitutions``. The SAM translator that sam-cli itself uses then expands the template.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import intrinsics_multi_constructor

ARTIFACTS_BUCKET = "photosort-local-artifacts"


@dataclass
class Artifact:
    logical_id: str
    source_dir: Path
    s3_key: str


@dataclass
class PackagedTemplate:
    """The translated CloudFormation template and where each function's and layer's code came from."""

    template: dict[str, Any]
    functions: dict[str, Artifact] = field(default_factory=dict)
    layers: dict[str, Artifact] = field(default_factory=dict)


class _NoManagedPolicies:
    """The translator asks IAM for managed-policy ARNs only for names it cannot resolve itself."""

    def load(self) -> dict[str, str]:
        return {}


def zip_dir(path: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for file in sorted(path.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                zf.write(file, file.relative_to(path).as_posix())
    return buf.getvalue()


def load_sam_template(template_path: Path) -> dict[str, Any]:
    """template.yaml as data, CloudFormation short tags (``!Ref``, ``!Sub``...) read as their long forms.

    The YAML parse takes a while (a fifth of a second in pure Python), and the cost model, the stack and the
    tests read the same file many times: it is parsed once per version of the file (path, size, mtime) and
    each caller gets its own deep copy, free to change."""
    stat = template_path.stat()
    return copy.deepcopy(_parsed(template_path.resolve(), stat.st_size, stat.st_mtime_ns))


class _TemplateLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """samtranslator's ``yaml_parse`` (the safe loader, short tags read by its own constructor) on libyaml's
    parser where PyYAML was built with it: the same documents, read several times faster."""


_TemplateLoader.add_multi_constructor("!", intrinsics_multi_constructor)


@functools.lru_cache(maxsize=16)
def _parsed(path: Path, _size: int, _mtime_ns: int) -> dict[str, Any]:
    template: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=_TemplateLoader)  # noqa: S506
    return template


CodeUri = Callable[[str, str, Path], str]
"""``code_uri(logical_id, artifacts folder, local source folder) -> S3 URI`` for a function's or layer's code."""

_CODE_URIS = {  # resource type -> (property holding a local folder, artifacts folder)
    "AWS::Serverless::Function": ("CodeUri", "functions"),
    "AWS::Serverless::LayerVersion": ("ContentUri", "layers"),
}


def translate(sam: dict[str, Any], root: Path, code_uri: CodeUri) -> dict[str, Any]:
    """The CloudFormation that SAM deploys: local code folders replaced by ``code_uri``'s S3 URIs, each
    ``DefinitionUri`` inlined as ``Definition`` (``DefinitionSubstitutions`` kept), then the SAM transform."""
    sam = copy.deepcopy(sam)
    for logical_id, resource in sam.get("Resources", {}).items():
        props = resource.get("Properties", {})
        kind = resource.get("Type")
        if kind in _CODE_URIS and isinstance(props.get(_CODE_URIS[kind][0]), str):
            prop, folder = _CODE_URIS[kind]
            props[prop] = code_uri(logical_id, folder, (root / props[prop]).resolve())
        elif kind == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            props["Definition"] = json.loads((root / props.pop("DefinitionUri")).read_text(encoding="utf-8"))
    template: dict[str, Any] = transform(sam, {}, _NoManagedPolicies())
    return template


def package(template_path: Path) -> tuple[PackagedTemplate, dict[str, bytes]]:
    """Zip the local code folders into artifacts (as ``sam package`` does) and translate. Returns the template
    and the zips to upload."""
    uploads: dict[str, bytes] = {}
    packaged = PackagedTemplate(template={})
    noted = {"functions": packaged.functions, "layers": packaged.layers}

    def zipped(logical_id: str, folder: str, src: Path) -> str:
        key = f"{folder}/{logical_id}.zip"
        uploads[key] = zip_dir(src)
        noted[folder][logical_id] = Artifact(logical_id, src, key)
        return f"s3://{ARTIFACTS_BUCKET}/{key}"

    packaged.template = translate(load_sam_template(template_path), template_path.parent, zipped)
    return packaged, uploads
