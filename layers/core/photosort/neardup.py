"""Near-duplicates: photos whose embeddings are almost the same as an earlier photo's.

Exact duplicates (the same bytes, by SHA-256) are found by the hash claim in the repository. A re-encoded,
resized, lightly cropped or re-compressed copy has different bytes but nearly the same embedding: its cosine
similarity to the original is at least ``threshold`` (0.8 by default; measured with ``photosort near-duplicates
evaluate``: distinct package photos stay below 0.65, copies above 0.8 with few exceptions).

Index: each *first* photo (one that is no near-duplicate itself) is written under the indices of its ``TOP_K``
strongest embedding features, one item per feature:

| PK                                     | SK                    | attributes                  |
|----------------------------------------|-----------------------|-----------------------------|
| ``NEAR#<model version>#<feature>``     | ``<created>#<id>``    | ``image_id``, ``embedding`` |

A copy's strongest features are mostly the original's, so looking up the same ``TOP_K`` partitions finds it;
the exact cosine over the candidates' stored int8 embeddings then decides. Each lookup reads at most
``MAX_CANDIDATES`` (50) of the newest items per partition, which bounds the cost on big libraries (an original
older than that window can be missed there). Near-duplicates point at the first photo, never at another copy.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from photosort import embeddings
from photosort.models import Embedding
from photosort.settings import NearDuplicatePolicy, Settings

TOP_K = 4
MAX_CANDIDATES = 50  # newest items read per partition: bounds the reads and the pure-Python cosines (~0.5 ms each)
DEFAULT_THRESHOLD = 0.8


@dataclass(frozen=True)
class NearDuplicateSettings:
    policy: NearDuplicatePolicy
    threshold: float = DEFAULT_THRESHOLD

    @classmethod
    def from_settings(cls, settings: Settings) -> NearDuplicateSettings | None:
        """None when the search is off."""
        if settings.near_duplicates is NearDuplicatePolicy.OFF:
            return None
        return cls(policy=settings.near_duplicates, threshold=settings.near_duplicate_threshold)


@dataclass(frozen=True)
class NearMatch:
    image_id: str
    similarity: float


def partitions(embedding: Embedding, top_k: int = TOP_K) -> list[str]:
    """The index partitions of an embedding: its ``top_k`` strongest features."""
    values = embeddings.ints(embedding)
    top = heapq.nlargest(top_k, range(len(values)), key=lambda i: (values[i], -i))  # ties: the lower index
    return [f"NEAR#{embedding.model_version}#{i}" for i in top]


class NearDuplicateIndex:
    """Finds the first photo an embedding nearly duplicates, and builds the index items for a new first photo."""

    def __init__(self, client: Any, table_name: str, *, threshold: float = DEFAULT_THRESHOLD) -> None:
        self._db = client
        self._table = table_name
        self.threshold = threshold

    def _candidates(self, pk: str) -> Iterator[dict[str, Any]]:
        resp = self._db.query(
            TableName=self._table,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ProjectionExpression="image_id, embedding",
            ScanIndexForward=False,
            Limit=MAX_CANDIDATES,
        )
        yield from resp.get("Items", [])

    def find(self, embedding: Embedding, *, exclude: str | None = None) -> NearMatch | None:
        """The most similar indexed photo at or above the threshold, if any."""
        target = embeddings.ints(embedding)
        target_norm = embeddings.norm(target)
        best: NearMatch | None = None
        seen: set[str] = set()
        for pk in partitions(embedding):
            for item in self._candidates(pk):
                image_id = item["image_id"]["S"]
                if image_id in seen or image_id == exclude:
                    continue
                seen.add(image_id)
                other = Embedding(model_version=embedding.model_version, dim=embedding.dim, data=item["embedding"]["S"])
                similarity = embeddings.unit_cosine(embeddings.ints(other), target, b_norm=target_norm)
                if similarity >= self.threshold and (best is None or similarity > best.similarity):
                    best = NearMatch(image_id=image_id, similarity=round(similarity, 4))
        return best

    def index_items(self, image_id: str, embedding: Embedding, created_at: str) -> list[dict[str, Any]]:
        """The items that index a first photo (written right after its record, idempotent puts)."""
        return [
            {
                "PK": {"S": pk},
                "SK": {"S": f"{created_at}#{image_id}"},
                "type": {"S": "near"},
                "image_id": {"S": image_id},
                "embedding": {"S": embedding.data},
            }
            for pk in partitions(embedding)
        ]
