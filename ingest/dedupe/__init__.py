"""Deduplication and online story clustering (pure logic: values in, values out).

- :func:`canonical_url` / :func:`url_key`: one article per real document;
- :mod:`ingest.dedupe.minhash`: MinHash signatures and LSH band buckets;
- :class:`Clusterer`: duplicate/story decision per incoming article, against a
  :class:`ClusterState` (in memory here, SQL in :mod:`ingest.store.cluster_state`).
"""

from ingest.dedupe.clusterer import (
    Clusterer,
    ClusterParams,
    ClusterState,
    Decision,
    Doc,
    StoryProfile,
)
from ingest.dedupe.memory_state import InMemoryClusterState
from ingest.dedupe.urls import UrlError, canonical_url, url_key

__all__ = [
    "ClusterParams",
    "ClusterState",
    "Clusterer",
    "Decision",
    "Doc",
    "InMemoryClusterState",
    "StoryProfile",
    "UrlError",
    "canonical_url",
    "url_key",
]
