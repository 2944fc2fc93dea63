"""The vendored chart library is what its PINS.md says: the files whose sha256 it lists, and the
package ships them (pyproject package-data names the directory)."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

import pytest

pytestmark = [pytest.mark.unit]

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "aibackend" / "dashboard" / "static" / "vendor" / "uplot"


def test_vendored_files_match_their_pins() -> None:
    pins = dict(re.findall(r"^\| `([^`]+)` \| `[^`]+` \| `([0-9a-f]{64})` \|$", (VENDOR / "PINS.md").read_text(), re.M))
    assert set(pins) == {"uPlot.iife.min.js", "uPlot.min.css", "LICENSE"}
    assert {name: hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() for name in pins} == pins
    assert sorted(p.name for p in VENDOR.iterdir()) == sorted([*pins, "PINS.md"])
    script = (ROOT / "scripts" / "vendor-uplot.sh").read_text()
    version = re.search(r"^\| version \| (\S+) \|$", (VENDOR / "PINS.md").read_text(), re.M)
    assert version and f'VERSION="${{1:-{version[1]}}}"' in script


def test_the_package_data_ships_the_dashboard() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["aibackend"]
    assert {"dashboard/templates/*.html", "dashboard/static/*.js", "dashboard/static/*.css",
            "dashboard/static/vendor/uplot/*"} <= set(data)
