"""The pinned upstream sources, the citations into them, and the kept excerpts: typed, read once.

Offline by design: everything here reads files of this package. Whether the excerpts are still
the pinned files' lines is ``refetch.py``'s job (it downloads the artifacts again).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

__all__ = [
    "CITATIONS",
    "EXCERPT_DIR",
    "PINS",
    "Citation",
    "Excerpt",
    "FilePin",
    "Pin",
    "excerpt_path",
    "load_excerpt",
    "render_excerpt",
]

HERE = Path(__file__).resolve().parent
EXCERPT_DIR = HERE / "excerpts"
# An excerpt keeps the file's name plus this suffix: never importable, linted or collected as code.
EXCERPT_SUFFIX = ".txt"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FilePin(_Strict):
    """One cited file of a source: its sha256 and its number of lines, at the pin."""

    sha256: str
    lines: int


class Pin(_Strict):
    """One upstream source: a PyPI package at a version (its cited lines are kept as excerpts),
    or a repository at a tag and commit (cited, never copied: the project keeps no copy of a
    repository that is not a package)."""

    title: str
    package: str | None = None  # name==version, as pip takes it
    artifact: str | None = None  # the file `pip download` gives
    artifact_sha256: str | None = None
    sdist: bool = False  # the artifact is a source distribution (pip download --no-binary)
    archive_root: str = ""  # the folder the files sit under inside the artifact
    repository: str | None = None
    tag: str | None = None
    commit: str | None = None
    license: str
    why: str
    files: dict[str, FilePin] = {}

    @model_validator(mode="after")
    def _one_kind(self) -> Pin:
        if (self.package is None) == (self.repository is None):
            raise ValueError("a pin is either a package (package, artifact, artifact_sha256) or a repository (repository, tag, commit)")
        if self.package is not None and not (self.artifact and self.artifact_sha256):
            raise ValueError(f"{self.package}: artifact and artifact_sha256 are required")
        if self.repository is not None and not (self.tag and self.commit):
            raise ValueError(f"{self.repository}: tag and commit are required")
        return self

    @property
    def vendored(self) -> bool:
        """Whether the cited lines are kept in ``excerpts/`` (package sources only)."""
        return self.package is not None

    @property
    def label(self) -> str:
        return self.package if self.package is not None else f"{self.repository}@{self.tag} ({self.commit})"


_AT = re.compile(r"^(?P<source>[\w.-]+) (?P<path>\S+):(?P<start>\d+)(?:-(?P<end>\d+))?$")


class Citation(_Strict):
    """Where one fact comes from: ``at`` ("SOURCE path:START[-END]") with a ``quote`` that occurs
    in those lines, or ``exchange`` (a file under ``fixtures/exchanges/``, recorded with a real
    server). ``says``: what the source says, in our words."""

    says: str
    at: str | None = None
    quote: str | None = None
    exchange: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Citation:
        if (self.at is None) == (self.exchange is None):
            raise ValueError("a citation has either `at` (with a `quote`) or `exchange`")
        if self.at is not None:
            if not self.quote:
                raise ValueError(f"{self.at}: a quote from the cited lines is required")
            if not _AT.match(self.at):
                raise ValueError(f"`at` must read 'SOURCE path:START[-END]', got {self.at!r}")
            if self.end < self.start:
                raise ValueError(f"{self.at}: the range ends before it starts")
        return self

    def _part(self, name: str) -> str:
        match = _AT.match(self.at or "")
        if match is None:
            raise ValueError("not a line citation")
        return match.group(name) or match.group("start")

    @property
    def source(self) -> str:
        return self._part("source") if self.at else "exchange"

    @property
    def path(self) -> str:
        return self._part("path") if self.at else str(self.exchange)

    @property
    def start(self) -> int:
        return int(self._part("start"))

    @property
    def end(self) -> int:
        return int(self._part("end"))

    def where(self) -> str:
        """A reader's reference: ``vllm==0.34.0 vllm/.../protocol.py:241``."""
        if self.exchange is not None:
            return f"recorded exchange fixtures/exchanges/{self.exchange}"
        lines = f"{self.start}" if self.start == self.end else f"{self.start}-{self.end}"
        return f"{PINS[self.source].label} {self.path}:{lines}"


def _load_yaml(name: str) -> Any:
    return yaml.safe_load((HERE / name).read_text(encoding="utf-8"))


def _load_pins() -> dict[str, Pin]:
    return {name: Pin.model_validate(entry) for name, entry in _load_yaml("pins.yaml").items()}


def _load_citations() -> dict[str, Citation]:
    return {name: Citation.model_validate(entry) for name, entry in _load_yaml("citations.yaml").items()}


PINS: dict[str, Pin] = _load_pins()
CITATIONS: dict[str, Citation] = _load_citations()


# --- excerpts -----------------------------------------------------------------------------------

_BLOCK = re.compile(r"^@@ (\d+)-(\d+)$")


@dataclass(frozen=True)
class Excerpt:
    """The kept lines of one upstream file, by line number (1-based, as in the file)."""

    source: str
    path: str
    sha256: str
    lines: dict[int, str]

    def blocks(self) -> list[tuple[int, str]]:
        """The kept runs of consecutive lines: (first line number, their text)."""
        runs: list[tuple[int, list[str]]] = []
        for number in sorted(self.lines):
            if runs and number == runs[-1][0] + len(runs[-1][1]):
                runs[-1][1].append(self.lines[number])
            else:
                runs.append((number, [self.lines[number]]))
        return [(first, "\n".join(lines) + "\n") for first, lines in runs]

    def text(self, start: int, end: int) -> str | None:
        """Lines ``start``..``end`` joined, or None when any of them was not kept."""
        wanted = range(start, end + 1)
        if any(number not in self.lines for number in wanted):
            return None
        return "\n".join(self.lines[number] for number in wanted)


def excerpt_path(source: str, path: str) -> Path:
    return EXCERPT_DIR / source / (path + EXCERPT_SUFFIX)


def render_excerpt(source: str, path: str, file_lines: list[str], ranges: list[tuple[int, int]]) -> str:
    """The excerpt file of ``path``: a header naming the pin, then each kept range under ``@@ A-B``."""
    pin = PINS[source]
    file_pin = pin.files[path]
    head = [
        f"# {pin.label}: {path}",
        f"# sha256 {file_pin.sha256} ({file_pin.lines} lines). Licence: {pin.license}.",
        "# Only the lines cited by contracts/ are kept. Regenerate: python -m contracts.upstream.refetch --write",
    ]
    body: list[str] = []
    for start, end in _merged(ranges):
        body.append(f"@@ {start}-{end}")
        body.extend(file_lines[start - 1 : end])
    return "\n".join(head + body) + "\n"


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


@functools.cache
def load_excerpt(source: str, path: str) -> Excerpt | None:
    """The kept lines of ``path`` of ``source`` (None: no excerpt file)."""
    file = excerpt_path(source, path)
    if not file.is_file():
        return None
    raw = file.read_text(encoding="utf-8").split("\n")[:-1]
    lines: dict[int, str] = {}
    sha256 = ""
    index = 0
    while index < len(raw) and raw[index].startswith("#"):
        if raw[index].startswith("# sha256 "):
            sha256 = raw[index].split()[2]
        index += 1
    # Each block is its header and exactly B-A+1 lines: a kept line that looks like a header is data.
    while index < len(raw):
        block = _BLOCK.match(raw[index])
        if block is None:
            raise ValueError(f"{file}: line {index + 1}: expected '@@ START-END', got {raw[index][:60]!r}")
        start, end = int(block.group(1)), int(block.group(2))
        for offset, text in enumerate(raw[index + 1 : index + 2 + end - start]):
            lines[start + offset] = text
        index += 2 + end - start
    return Excerpt(source, path, sha256, lines)
