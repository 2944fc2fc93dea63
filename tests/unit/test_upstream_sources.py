"""The upstream sources the contracts cite, checked offline: every citation points into a pinned
file, its quote is in the cited lines of the kept excerpt, every kept excerpt belongs to a pinned
file, and the data derived from the excerpts is what is committed.

Whether the excerpts are still the pinned artifacts' lines is checked by
``python -m contracts.upstream.refetch`` (network, or the cache), which downloads them again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts.upstream import vllm_schemas
from contracts.upstream.refetch import DERIVED_VLLM
from contracts.upstream.sources import (
    CITATIONS,
    EXCERPT_DIR,
    EXCERPT_SUFFIX,
    PINS,
    excerpt_path,
    load_excerpt,
)

pytestmark = [pytest.mark.unit]

ROOT = Path(__file__).resolve().parents[2]
EXCHANGES = ROOT / "fixtures" / "exchanges"


@pytest.mark.parametrize("citation_id", sorted(c for c, v in CITATIONS.items() if v.at is not None))
def test_a_line_citation_points_into_a_pinned_file_and_quotes_it(citation_id: str) -> None:
    citation = CITATIONS[citation_id]
    assert citation.source in PINS, f"{citation_id}: no pin named {citation.source!r} in pins.yaml"
    pin = PINS[citation.source]
    assert citation.path in pin.files, f"{citation_id}: {citation.path} is not a pinned file of {citation.source}"
    assert citation.end <= pin.files[citation.path].lines, f"{citation_id}: past the file's last line"
    if not pin.vendored:
        return  # a repository: cited, never copied; refetch --local checks it against a checkout
    excerpt = load_excerpt(citation.source, citation.path)
    assert excerpt is not None, f"{citation_id}: no excerpt kept of {citation.path}"
    cited = excerpt.text(citation.start, citation.end)
    assert cited is not None, f"{citation_id}: the excerpt lacks lines {citation.start}-{citation.end}"
    assert citation.quote is not None and citation.quote in cited, f"{citation_id}: {citation.quote!r} not in the cited lines"


@pytest.mark.parametrize("citation_id", sorted(c for c, v in CITATIONS.items() if v.exchange is not None))
def test_an_exchange_citation_names_a_recorded_exchange(citation_id: str) -> None:
    exchange = CITATIONS[citation_id].exchange
    assert exchange is not None
    document = json.loads((EXCHANGES / exchange).read_text(encoding="utf-8"))
    assert {"request", "response", "server", "recorded"} <= set(document), citation_id
    assert isinstance(document["response"]["status"], int)


def test_every_kept_excerpt_is_a_pinned_file_with_its_hash() -> None:
    for file in sorted(EXCERPT_DIR.rglob(f"*{EXCERPT_SUFFIX}")):
        source, *parts = file.relative_to(EXCERPT_DIR).parts
        path = "/".join(parts).removesuffix(EXCERPT_SUFFIX)
        assert source in PINS and PINS[source].vendored, file
        assert path in PINS[source].files, f"{file}: not a pinned file"
        excerpt = load_excerpt(source, path)
        assert excerpt is not None and excerpt.sha256 == PINS[source].files[path].sha256, file
        assert excerpt_path(source, path) == file


def test_no_repository_source_is_copied() -> None:
    for name, pin in PINS.items():
        if not pin.vendored:
            assert not (EXCERPT_DIR / name).exists(), f"{name} is a repository: cite it, keep no copy"


def test_the_vllm_schemas_derive_from_the_kept_excerpts_as_committed() -> None:
    snippets = {}
    for path in vllm_schemas.FILES:
        excerpt = load_excerpt(vllm_schemas.PIN, path)
        assert excerpt is not None, path
        snippets[path] = excerpt.blocks()
    document, _ = vllm_schemas.derive(snippets)
    assert json.dumps(document, indent=1) + "\n" == DERIVED_VLLM.read_text(encoding="utf-8"), (
        "derived/vllm.json is stale: python -m contracts.upstream.refetch --write"
    )
