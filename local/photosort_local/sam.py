"""Turn template.yaml into the CloudFormation that ``sam build && sam package`` would deploy.

Local ``CodeUri``/``ContentUri`` folders are zipped into an artifacts bucket (as ``sam package`` does) and
``DefinitionUri`` is inlined as ``Definition`` (as ``sam build`` resolves it), keeping
``DefinitionSubstitutions``. The SAM translator that sam-cli itself uses then expands the template.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

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
    return yaml_parse(template_path.read_text(encoding="utf-8"))


def package(template_path: Path) -> tuple[PackagedTemplate, dict[str, bytes]]:
    """Rewrite local URIs to artifact S3 URIs and translate. Returns the template and the zips to upload."""
    root = template_path.parent
    sam = copy.deepcopy(load_sam_template(template_path))
    uploads: dict[str, bytes] = {}
    packaged = PackagedTemplate(template={})
    code_uris = {  # resource type -> (property holding a local folder, artifacts prefix, where it is noted)
        "AWS::Serverless::Function": ("CodeUri", "functions", packaged.functions),
        "AWS::Serverless::LayerVersion": ("ContentUri", "layers", packaged.layers),
    }
    for logical_id, resource in sam.get("Resources", {}).items():
        props = resource.get("Properties", {})
        kind = resource.get("Type")
        if kind in code_uris and isinstance(props.get(code_uris[kind][0]), str):
            prop, folder, noted = code_uris[kind]
            src = (root / props[prop]).resolve()
            key = f"{folder}/{logical_id}.zip"
            uploads[key] = zip_dir(src)
            props[prop] = f"s3://{ARTIFACTS_BUCKET}/{key}"
            noted[logical_id] = Artifact(logical_id, src, key)
        elif kind == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            props["Definition"] = json.loads((root / props.pop("DefinitionUri")).read_text(encoding="utf-8"))
    packaged.template = transform(sam, {}, _NoManagedPolicies())
    return packaged, uploads
