"""Every test process records into a results store of its own, never the user's.

``aibackend loadtest``, ``contract`` and ``demo`` record into ``$XDG_DATA_HOME/aibackend/results.sqlite3``
by default; each pytest process (each xdist worker) points ``XDG_DATA_HOME`` at a fresh temporary
directory before any test runs, so that every command the tests start, in this process or a
child, writes there. Layer 7's kept answers (``generator.acceptance_cache``) go there too, not to
the user's cache: a test sees only what this run's own LiteLLM said. It is removed at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from generator import acceptance_cache

_KEY = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    path = tempfile.mkdtemp(prefix="aibackend-test-data-")
    config.stash[_KEY] = path
    os.environ["XDG_DATA_HOME"] = path
    os.environ[acceptance_cache.ENV] = os.path.join(path, "litellm-acceptance")


def pytest_unconfigure(config: pytest.Config) -> None:
    path = config.stash.get(_KEY, None)
    if path:
        shutil.rmtree(path, ignore_errors=True)
