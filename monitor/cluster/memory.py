"""What placing posts knows of posts placed before, kept by a worker's index between tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import numpy as np

from monitor.similarity import TextEvidence


@dataclass(eq=False)
class PlacedCluster:
    """A cluster as placing posts sees it. The clusters of a batch's candidates (about a
    thousand for 64 posts) are read as these three columns, not as ORM rows, which cost
    far more to load. A cluster the batch opens has no id until it is written
    (PlacedPosts.write)."""

    id: int | None
    representative_post_id: int | None
    merged_into_id: int | None = None
    first_seen_at: datetime | None = None  # of one the batch opens


class PostClaim(NamedTuple):
    """What a post brings to a same-claim judgement."""

    post_id: int
    vector: np.ndarray
    evidence: TextEvidence
    language: str | None


@dataclass
class PlacedMemory:
    """What placing posts has read of posts placed before (their claims and clusters) and
    placed itself, kept by a worker's index from one task to the next: a batch's
    candidates are mostly the last batches' too, so they are not read again.

    True while the database's placement revision is still REVISION, read before any of it:
    triggers raise it whenever anything changes what this holds (a moderator's merge or
    split, an automatic merge, an edited text; see models.PlacementRevision)."""

    revision: int | None
    claims: dict[int, PostClaim] = field(default_factory=dict)
    cluster_of_post: dict[int, PlacedCluster] = field(default_factory=dict)
    cluster_by_id: dict[int, PlacedCluster] = field(default_factory=dict)
