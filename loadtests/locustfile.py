"""Locustfile for LLM serving: ``locust -f loadtests/locustfile.py --host URL --llm-model NAME``.

Works with the web UI (TTFT, TPOT and TTFB rows in the statistics, an "LLM metrics" tab with the
exact figures) and headless; ``aibackend loadtest`` runs this same file. Options: ``--llm-*``
(``locust -f loadtests/locustfile.py --help``). A load shape is chosen with ``--llm-shape``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Plain `locust -f loadtests/locustfile.py` from the repository root: make the package importable.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from loadtests import plugin  # noqa: E402,F401  (registers the event listeners)
from loadtests.runtime import RunContext  # noqa: E402
from loadtests.settings import BY_NAME  # noqa: E402
from loadtests.shapes import SHAPES  # noqa: E402
from loadtests.users import LLMBaseUser  # noqa: E402


class LLMUser(LLMBaseUser):
    """The API comes from ``--llm-api``: openai-chat, openai-completions or ollama-chat."""

    abstract = False

    def api_for(self, ctx: RunContext) -> str:
        return ctx.settings.api


SHAPE = BY_NAME["shape"]


def _shape_from_argv() -> str:
    # Locust picks shape classes when it imports this file, before it parses our options.
    argv = sys.argv
    for i, arg in enumerate(argv):
        if arg == SHAPE.llm_flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(f"{SHAPE.llm_flag}="):
            return arg.split("=", 1)[1]
    return os.environ.get(f"LOCUST_{SHAPE.llm_dest.upper()}", "")  # as Locust's parser reads it


_shape = _shape_from_argv()
if _shape:
    if _shape not in SHAPES:
        raise SystemExit(f"{SHAPE.llm_flag} {_shape!r}: choose one of {', '.join(SHAPES)}")
    LLMShape = type("LLMShape", (SHAPES[_shape],), {"abstract": False})
