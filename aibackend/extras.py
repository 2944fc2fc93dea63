"""Which optional extra (pyproject.toml) a missing module comes from, read from the installed metadata.

The base install is the compiler; the gateway, load-test and contract commands need their extras.
A command that finds its extra missing says which one to install (exit 2: it could not run)
instead of failing with an internal error. The lists live in pyproject.toml only.
"""

from __future__ import annotations

import importlib.util
import re
from importlib import metadata

from generator.errors import UsageError

__all__ = ["DISTRIBUTION", "extra_providing", "missing_extra", "require"]

DISTRIBUTION = "ai-backend-unified"  # the name pyproject.toml gives the project


def extra_providing(module: str, prefer: str | None = None) -> str | None:
    """The extra that would install ``module`` (its top-level package), or None; ``prefer`` (a command's
    own extra) wins when several extras list the module (Flask: [loadtest] and [dashboard])."""
    top = module.partition(".")[0].lower().replace("-", "_")
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return None
    extras = []
    for requirement in requirements:
        name, _, marker = requirement.partition(";")
        project = re.split(r"[\s\[<>=!~]", name.strip(), maxsplit=1)[0].lower().replace("-", "_")
        found = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
        if project == top and found and found[1] not in ("all", "dev"):
            extras.append(found[1])
    if prefer in extras:
        return prefer
    return extras[0] if extras else None


def missing_extra(module: str, prefer: str | None = None) -> UsageError | None:
    """The error to show for a missing ``module`` that an extra provides; None for any other module."""
    extra = extra_providing(module, prefer)
    if extra is None:
        return None
    return UsageError(f"this command needs {module}, which the base install leaves out",
                      hint=f"pip install 'ai-backend-unified[{extra}]'  (or [all])")


def require(*modules: str, extra: str | None = None) -> None:
    """Raise the extras hint (UsageError, exit 2) unless every one of ``modules`` is importable;
    ``extra`` names the command's own extra, preferred in the hint."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise missing_extra(module, extra) or UsageError(f"this command needs {module}, which is not installed")
