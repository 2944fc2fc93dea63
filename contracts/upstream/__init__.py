"""Where the contracts come from: the upstream sources they cite, pinned, and what is kept of them.

Every rule, status code, required field, enum and bound of ``contracts/specs/*.yaml`` cites where it
comes from (``contracts/provenance/``): a line range of an upstream file at a pinned version, or
an exchange recorded with a real server (``fixtures/exchanges/<type>/``). This package holds the
sources' side:

- ``pins.yaml``: each upstream source (a PyPI package at a version, or a repository at a tag and
  commit), its artifact's sha256, and every cited file with its own sha256 and line count;
- ``citations.yaml``: the citations, by id: ``at`` (source, file, lines), a ``quote`` that must
  occur in those lines, and what the source ``says``;
- ``excerpts/<source>/<file>``: the cited lines of each file of a package source, and nothing
  else (the licence allows it; a repository that is not a package is cited, never copied);
- ``derived/``: what is derived from them mechanically (vLLM's request and response schemas);
- ``sources.py`` reads all of it (offline: what the provenance test uses); ``refetch.py`` downloads
  the pinned artifacts again and checks or rewrites the excerpts (``python -m contracts.upstream.refetch``).
"""

from __future__ import annotations

from contracts.upstream.sources import (
    CITATIONS,
    EXCERPT_DIR,
    PINS,
    Citation,
    Excerpt,
    FilePin,
    Pin,
    load_excerpt,
)

__all__ = ["CITATIONS", "EXCERPT_DIR", "PINS", "Citation", "Excerpt", "FilePin", "Pin", "load_excerpt"]
