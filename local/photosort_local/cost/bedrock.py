"""What one Bedrock classification costs: tokens per image times the per-token prices in ``prices.json``.

Input tokens per photo = the image's tokens + the text photosort sends with it (system prompt, the label
list, the tool's JSON schema). Nova rescales every image to a size set by its aspect ratio (Amazon Nova
user guide, "Image understanding": 900x450 ~800 tokens, 900x900 ~1,300, 1400x900 ~1,800, 1.8Kx900 ~2,400,
1.3Kx1.3K ~2,600); a 4:3 camera photo falls in the 1400x900 class (closest ratio 2:3), so ~1,800 tokens.
The text is counted from the request the backend really builds for the rules (at ~4 characters a token,
the usual estimate for English and JSON), and the answer is ~12 output tokens per label returned plus the
tool call's overhead. ``Converse`` reports the real counts in ``usage`` (logged by the backend), so a
deployment can check these figures against its own bill.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 4.0
OUTPUT_TOKENS_OVERHEAD = 30  # the toolUse block around the labels
OUTPUT_TOKENS_PER_LABEL = 12  # {"label": "Cat", "certainty": "certain"},
LABELS_PER_ANSWER = 3  # typical number of vocabulary labels that apply to a photo (assumption)
DEFAULT_RULES = "family"


@dataclass(frozen=True)
class TokenEstimate:
    image_tokens: int
    text_tokens: int
    output_tokens: int

    @property
    def input_tokens(self) -> int:
        return self.image_tokens + self.text_tokens


def text_tokens(rules: str = DEFAULT_RULES) -> int:
    """Tokens of the text part of the request the backend sends for these rules (preset or JSON)."""
    from photosort.backends.bedrock import SYSTEM_PROMPT, prompt, tool_config, vocabulary
    from photosort.routing import load_rules

    labels = vocabulary(load_rules(rules))
    text = SYSTEM_PROMPT + prompt(labels) + json.dumps(tool_config(labels, 20))
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def tokens_per_image(prices: dict[str, Any], rules: str = DEFAULT_RULES) -> TokenEstimate:
    image = int(prices["bedrock"]["nova_lite_image_tokens_4x3"]["value"])
    output = OUTPUT_TOKENS_OVERHEAD + OUTPUT_TOKENS_PER_LABEL * LABELS_PER_ANSWER
    return TokenEstimate(image_tokens=image, text_tokens=text_tokens(rules), output_tokens=output)


def per_image(prices: dict[str, Any], rules: str = DEFAULT_RULES) -> tuple[TokenEstimate, float, float]:
    """(tokens, USD per 1,000 input tokens, USD per 1,000 output tokens) for the default model."""
    tokens = tokens_per_image(prices, rules)
    return (
        tokens,
        float(prices["bedrock"]["nova_lite_input_per_1k_tokens"]["value"]),
        float(prices["bedrock"]["nova_lite_output_per_1k_tokens"]["value"]),
    )
