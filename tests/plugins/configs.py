"""Fixtures: temporary config directories, never the user's ``config/``.

``config_dir`` is a fresh copy of the reference example config in ``tmp_path``;
``make_config`` builds one from YAML texts (pre-commit/tox style: a project from a dict).
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "fixtures" / "configs" / "example"

MakeConfig = Callable[..., Path]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(EXAMPLE_CONFIG, target)
    return target


@pytest.fixture
def make_config(tmp_path: Path) -> MakeConfig:
    """``make_config(providers=..., mappings=..., gateway=...)``: YAML texts (dedented).

    A file given as None is left out (``gateway.yaml`` is optional); a missing
    ``providers``/``mappings`` argument takes the example's file.
    """
    counter = iter(range(10_000))

    def make(
        providers: str | None = "example",
        mappings: str | None = "example",
        gateway: str | None = "example",
    ) -> Path:
        target = tmp_path / f"config-{next(counter)}"
        target.mkdir()
        for name, text in (
            ("providers.yaml", providers),
            ("model-mappings.yaml", mappings),
            ("gateway.yaml", gateway),
        ):
            if text is None:
                continue
            if text == "example":
                shutil.copy(EXAMPLE_CONFIG / name, target / name)
            else:
                (target / name).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return target

    return make
