"""How many backups to keep, for the commands that restore one (``rollback``, ``providers rollback``)."""

from __future__ import annotations

import sys
from pathlib import Path

from generator.store import DEFAULT_KEEP


def backups_keep(config_dir: Path) -> int:
    """``backups.keep`` from gateway.yaml; the default when the file is absent or unreadable.

    A rollback is what one reaches for when things are broken, so a broken gateway.yaml must
    not stop it: it warns and keeps the default number of backups instead.
    """
    from pydantic import ValidationError

    from generator.load import GATEWAY_FILE
    from generator.models import GatewayFile
    from generator.yamlsource import read_yaml_file

    path = config_dir / GATEWAY_FILE
    if not path.is_file():
        return DEFAULT_KEEP
    try:
        parsed, problems = read_yaml_file(path, str(path), allow_empty=True)
        if parsed is not None and not problems:
            return GatewayFile.model_validate(parsed.data).backups.keep
    except (OSError, ValidationError):
        pass
    print(
        f"warning: {path} does not validate (run `aibackend validate`); "
        f"keeping the default {DEFAULT_KEEP} backups",
        file=sys.stderr,
    )
    return DEFAULT_KEEP
