"""``python -m contracts.upstream.refetch``: fetch the pinned upstream artifacts again and check (or,
with ``--write``, rewrite) what the project keeps of them.

For every package pin of ``pins.yaml``: ``pip download --no-deps`` the artifact into the cache
(``$AIBACKEND_CACHE_DIR/upstream/<pin>/``, default ``~/.cache/aibackend/upstream``; a cached copy
is reused), check the artifact's sha256, then for every cited file: its sha256 and line count,
that every citation's quote occurs in its lines, and that the kept excerpt is exactly the file's
lines. The derived data (``derived/``) is computed from the whole files and compared too. A
repository pin (not a package: cited, never copied) is checked the same way against a checkout
given with ``--local NAME=DIR`` (e.g. ``git clone`` at the pinned tag), and skipped, saying so,
without one.

``--write`` records new cited files in ``pins.yaml`` and rewrites the excerpts and the derived
data from the artifacts: what a change of citations or of a pin needs. Needs the network (PyPI)
unless the cache holds the artifacts; the vLLM wheel is ~440 MB. Exit 1 when anything differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

from contracts.upstream import vllm_schemas
from contracts.upstream.sources import CITATIONS, HERE, PINS, Pin, excerpt_path, load_excerpt, render_excerpt
from generator.cachedir import aibackend_cache_dir

__all__ = ["DERIVED_VLLM", "cache_dir", "main"]

DERIVED_VLLM = HERE / "derived" / "vllm.json"


def cache_dir() -> Path:
    return aibackend_cache_dir() / "upstream"


class Artifact:
    """The files of one pinned source: a wheel, an sdist, or a local directory."""

    def __init__(self, pin: Pin, location: Path) -> None:
        self.pin = pin
        self.location = location
        self._zip = zipfile.ZipFile(location) if location.is_file() and zipfile.is_zipfile(location) else None
        # Kept open for the run's reads (a one-shot command): closed when the process exits.
        self._tar = tarfile.open(location) if location.is_file() and self._zip is None else None  # noqa: SIM115

    def read(self, path: str) -> bytes | None:
        name = self.pin.archive_root + path
        try:
            if self._zip is not None:
                return self._zip.read(name)
            if self._tar is not None:
                member = self._tar.extractfile(name)
                return member.read() if member is not None else None
            return (self.location / path).read_bytes()
        except (KeyError, FileNotFoundError, IsADirectoryError):
            return None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _download(name: str, pin: Pin) -> Path:
    assert pin.package is not None and pin.artifact is not None
    folder = cache_dir() / name
    target = folder / pin.artifact
    if not target.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(folder), pin.package]
        command += ["--no-binary", ":all:"] if pin.sdist else ["--only-binary", ":all:"]
        print(f"  pip download {pin.package} ...", flush=True)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return target


def _cited_ranges() -> dict[tuple[str, str], list[tuple[int, int]]]:
    ranges: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for citation in CITATIONS.values():
        if citation.at is not None:
            ranges.setdefault((citation.source, citation.path), []).append((citation.start, citation.end))
    return ranges


class Run:
    def __init__(self, write: bool) -> None:
        self.write = write
        self.problems: list[str] = []
        self.pins: dict[str, Any] = yaml.safe_load((HERE / "pins.yaml").read_text(encoding="utf-8"))

    def problem(self, text: str) -> None:
        self.problems.append(text)
        print(f"  DIFFERS: {text}")

    def check_file(self, name: str, pin: Pin, path: str, data: bytes, ranges: list[tuple[int, int]]) -> list[str]:
        text = data.decode("utf-8")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        recorded = pin.files.get(path)
        fresh = {"sha256": _sha256(data), "lines": len(lines)}
        if recorded is None or recorded.model_dump() != fresh:
            if self.write:
                self.pins[name].setdefault("files", {})[path] = fresh
            else:
                self.problem(f"{name} {path}: pinned {recorded.model_dump() if recorded else 'nothing'}, artifact has {fresh}")
        for citation in CITATIONS.values():
            if citation.at is not None and (citation.source, citation.path) == (name, path):
                cited = "\n".join(lines[citation.start - 1 : citation.end])
                if citation.quote is None or citation.quote not in cited:
                    self.problem(f"{citation.at}: the quote {citation.quote!r} is not in those lines")
        return lines

    def keep(self, name: str, pin: Pin, path: str, lines: list[str], ranges: list[tuple[int, int]]) -> None:
        if not pin.vendored:
            return
        if self.write:
            # pins.yaml may have just learned this file: render against the fresh record.
            PINS[name] = pin.model_copy(update={"files": {**pin.files, path: _file_pin(self.pins[name]["files"][path])}})
            file = excerpt_path(name, path)
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(render_excerpt(name, path, lines, ranges), encoding="utf-8")
            load_excerpt.cache_clear()
            return
        excerpt = load_excerpt(name, path)
        if excerpt is None:
            self.problem(f"{name} {path}: no excerpt kept")
            return
        wanted = {n for start, end in ranges for n in range(start, end + 1)}
        if set(excerpt.lines) != wanted:
            self.problem(f"{name} {path}: the excerpt keeps other lines than those cited")
        for number, kept in excerpt.lines.items():
            if number > len(lines) or lines[number - 1] != kept:
                self.problem(f"{name} {path}:{number}: the excerpt differs from the file")
                break


def _file_pin(entry: dict[str, Any]) -> Any:
    from contracts.upstream.sources import FilePin

    return FilePin.model_validate(entry)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.upstream.refetch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite pins.yaml's files, the excerpts and derived/")
    parser.add_argument("--local", action="append", default=[], metavar="NAME=DIR", help="read source NAME from a directory")
    args = parser.parse_args(argv)
    local = dict(item.split("=", 1) for item in args.local)
    run = Run(args.write)
    cited = _cited_ranges()
    vllm_files: dict[str, list[tuple[int, str]]] = {}
    for name, pin in PINS.items():
        print(f"{name}: {pin.label}")
        if name in local:
            artifact = Artifact(pin, Path(local[name]))
        elif pin.vendored:
            location = _download(name, pin)
            digest = _sha256(location.read_bytes())
            if digest != pin.artifact_sha256:
                run.problem(f"{name}: {location.name} has sha256 {digest}, pinned {pin.artifact_sha256}")
                continue
            artifact = Artifact(pin, location)
        else:
            print(f"  not checked: a repository, not a package; pass --local {name}=DIR (a checkout of {pin.tag})")
            continue
        paths = {path for source, path in cited if source == name}
        if name == vllm_schemas.PIN:
            paths |= set(vllm_schemas.FILES)
        texts: dict[str, list[str]] = {}
        for path in sorted(paths):
            data = artifact.read(path)
            if data is None:
                run.problem(f"{name}: {path} is not in {artifact.location.name}")
                continue
            texts[path] = run.check_file(name, pin, path, data, cited.get((name, path), []))
        if name == vllm_schemas.PIN:
            vllm_files = {path: [(1, "\n".join(texts[path]) + "\n")] for path in vllm_schemas.FILES if path in texts}
            document, used = vllm_schemas.derive(vllm_files)
            for path, ranges in used.items():
                cited.setdefault((name, path), []).extend(ranges)
            _check_derived(run, document)
        for path, lines in texts.items():
            if (name, path) in cited:
                run.keep(name, PINS[name], path, lines, cited[(name, path)])
    if args.write:
        (HERE / "pins.yaml").write_text(_render_pins(run.pins), encoding="utf-8")
    if run.problems:
        print(f"{len(run.problems)} difference(s) from the pinned upstream sources", file=sys.stderr)
        return 1
    print("everything kept matches the pinned upstream sources" if not args.write else "rewritten")
    return 0


def _check_derived(run: Run, document: dict[str, Any]) -> None:
    text = json.dumps(document, indent=1) + "\n"
    if run.write:
        DERIVED_VLLM.parent.mkdir(parents=True, exist_ok=True)
        DERIVED_VLLM.write_text(text, encoding="utf-8")
    elif not DERIVED_VLLM.is_file() or DERIVED_VLLM.read_text(encoding="utf-8") != text:
        run.problem(f"{DERIVED_VLLM.name}: differs from what the wheel derives")


PINS_HEADER = """\
# The upstream sources contracts/ cites, pinned (read by contracts/upstream/sources.py).
# A package pin: PyPI `package`, the `artifact` pip downloads and its sha256; its cited lines are kept
# under excerpts/. A repository pin: `repository` at `tag` and `commit`: cited, never copied.
# `files`: every cited file, its sha256 and line count, written by
# `python -m contracts.upstream.refetch --write` (which also checks them all without --write).
"""


def _render_pins(pins: dict[str, Any]) -> str:
    return PINS_HEADER + yaml.safe_dump(pins, sort_keys=False, width=100, allow_unicode=True)


if __name__ == "__main__":
    raise SystemExit(main())
