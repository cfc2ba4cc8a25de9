"""samconfig.toml carries sensible defaults and nothing tied to one account."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

SAMCONFIG = Path(__file__).resolve().parents[2] / "samconfig.toml"


def test_samconfig_has_defaults_and_no_account_specific_values() -> None:
    text = SAMCONFIG.read_text()
    config = tomllib.loads(text)
    deploy = config["default"]["deploy"]["parameters"]
    assert config["default"]["global"]["parameters"]["stack_name"] == "photosort"
    assert deploy["resolve_s3"] is True and "CAPABILITY_IAM" in deploy["capabilities"]
    assert not re.search(r"\b\d{12}\b", text), "no account ids"
    assert not re.search(r"arn:aws", text), "no ARNs"
    for section in config["default"].values():
        for key in ("region", "s3_bucket", "profile", "image_repositories"):
            assert key not in section.get("parameters", {}), key
    assert (SAMCONFIG.parent / config["default"]["local_invoke"]["parameters"]["env_vars"]).is_file()
