"""The generated config on disk: its path, timestamped backups, rollback; and the same backups and
rollback for providers.yaml when aibackend edits it (``aibackend providers``, ``switch``): each kind
of file is a ``FileKind`` (how a copy is verified before it is restored), its backups
``backups/<stem>.<UTC timestamp>.yaml`` beside it.

Every write goes through ``generator.atomicfile`` (temporary file, fsync, rename, directory
fsync, under a ``flock`` of the directory): a failure at any step leaves the previous file
byte-for-byte as it was, and the next write removes what a killed run left behind.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from generator.atomicfile import (
    fsync_directory,
    locked_directory,
    open_directory,
    real_path,
    reason,
    remove_stale_temps,
    replace_atomically,
    write_locked,
)
from generator.errors import StoreError, UsageError
from generator.render import MARKER_PREFIX, body_of, parse_metadata

__all__ = [
    "BACKUPS_DIR",
    "DEFAULT_KEEP",
    "GENERATED",
    "GENERATED_NAME",
    "PROVIDERS_SOURCE",
    "Backup",
    "FileKind",
    "find_backup",
    "install",
    "list_backups",
    "output_path",
    "require_directory",
    "rollback",
    "verify_generated",
    "verify_source",
]

GENERATED_NAME = "litellm-unified.yaml"
BACKUPS_DIR = "backups"
DEFAULT_KEEP = 10
# Compact, sortable as text, and microseconds so two generates in one second never collide.
_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S.%fZ"
_TIMESTAMP_PATTERN = r"\d{8}T\d{6}\.\d{6}Z"


def output_path(config_dir: Path, output: Path | None = None) -> Path:
    """The generated file: ``--output`` when given, else ``<config-dir>/litellm-unified.yaml``."""
    return output if output is not None else config_dir / GENERATED_NAME


def require_directory(path: Path) -> None:
    """The directory of the generated file must exist: a typo in --config-dir is exit 2, not 'no backups'."""
    if not path.parent.is_dir():
        raise UsageError(
            f"directory {path.parent} does not exist",
            hint="pass --config-dir DIR (default: config/) or --output FILE naming the generated config",
        )


@dataclass(frozen=True)
class Backup:
    """One backup file: ``name`` is the file name, ``created`` (UTC) comes from that name."""

    path: Path
    name: str
    created: datetime
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created": self.created.isoformat().replace("+00:00", "Z"),
            "size": self.size,
            "path": str(self.path),
        }


# ---------------------------------------------------------------------------------------------
# atomic writes


# ---------------------------------------------------------------------------------------------
# backups


def _backups_dir(path: Path) -> Path:
    return path.parent / BACKUPS_DIR


def _backup_name(path: Path) -> str:
    """A regex for the names of ``path``'s backups, the timestamp in group ``stamp``."""
    return rf"{re.escape(path.stem)}\.(?P<stamp>{_TIMESTAMP_PATTERN})\.yaml"


def list_backups(path: Path) -> list[Backup]:
    """The backups of the generated file ``path``, newest first."""
    target = real_path(path)
    directory = _backups_dir(target)
    pattern = re.compile(rf"^{_backup_name(target)}$")
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreError(
            f"cannot list backups in {directory}: {reason(exc)}",
            hint=f"backups are kept in {directory}/: it must be a directory this user can read",
        ) from exc
    backups = []
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        created = datetime.strptime(match["stamp"], _TIMESTAMP_FORMAT).replace(tzinfo=UTC)
        try:
            size = entry.stat(follow_symlinks=False).st_size
        except FileNotFoundError:  # pruned by a concurrent generate while we listed
            continue
        backups.append(Backup(path=Path(entry.path), name=entry.name, created=created, size=size))
    backups.sort(key=lambda backup: backup.created, reverse=True)
    return backups


@dataclass(frozen=True)
class FileKind:
    """What a backed-up file is: how a copy of it is checked before it is restored, and the
    commands the messages point at."""

    verify: Callable[[bytes], str | None]  # why a copy is not a complete file of this kind, or None
    made_by: str  # when backups of it are made
    listed_by: str  # the command listing them
    otherwise: str  # what else to do when no backup can be used


def find_backup(path: Path, name: str | None = None, *, kind: FileKind | None = None) -> Backup:
    """The backup called ``name`` (with or without ``.yaml``, or its path), else the newest."""
    kind = kind or GENERATED
    backups = list_backups(path)
    if not backups:
        raise StoreError(
            f"there are no backups of {path} (looked in {_backups_dir(path)})",
            hint=kind.made_by,
        )
    if name is None:
        return backups[0]
    for backup in backups:
        if name in (backup.name, backup.name.removesuffix(".yaml")) or _is_path_of(name, backup):
            return backup
    available = ", ".join(backup.name for backup in backups)
    raise StoreError(
        f"no backup named {name!r} in {_backups_dir(path)}",
        hint=f"the backups are (newest first): {available}",
    )


def _is_path_of(name: str, backup: Backup) -> bool:
    # `generate` prints the backup's path; pasting that path must work as well as the name.
    candidate = Path(name)
    return candidate.name == backup.name and candidate.resolve() == backup.path.resolve()


def _new_backup_path(target: Path, existing: list[Backup]) -> tuple[Path, datetime]:
    created = datetime.now(UTC)
    if existing and existing[0].created >= created:
        # Clock stepped back, or two backups within one microsecond: stay unique and ordered.
        created = existing[0].created + timedelta(microseconds=1)
    name = f"{target.stem}.{created.strftime(_TIMESTAMP_FORMAT)}.yaml"
    return _backups_dir(target) / name, created


def _make_backup(target: Path, data: bytes, dir_fd: int) -> Backup:
    directory = _backups_dir(target)
    backup_path, created = _new_backup_path(target, list_backups(target))
    try:
        if not directory.is_dir():
            directory.mkdir()
            fsync_directory(dir_fd)  # the new directory entry must survive a crash too
        with open_directory(directory) as backups_fd:
            replace_atomically(backup_path, data, backups_fd)
    except OSError as exc:
        raise StoreError(
            f"could not back up {target} to {backup_path}: {reason(exc)}; nothing was changed",
            hint="check free space and permissions of the backups directory, then run the command again",
        ) from exc
    return Backup(path=backup_path, name=backup_path.name, created=created, size=len(data))


def _prune(target: Path, keep: int) -> None:
    for backup in list_backups(target)[keep:]:
        try:
            os.unlink(backup.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreError(
                f"the config was written, but the old backup {backup.path} could not be removed: "
                f"{reason(exc)}"
            ) from exc


def _check_keep(keep: int) -> None:
    if keep < 1:
        raise StoreError(
            f"backups.keep must be at least 1, got {keep}",
            hint="set backups.keep in gateway.yaml to how many earlier configs to keep (default 10)",
        )


def _read_current(target: Path) -> bytes | None:
    try:
        return target.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read {target}: {reason(exc)}") from exc


def _install_bytes(target: Path, data: bytes, keep: int, dir_fd: int) -> Backup | None:
    # Even a run that writes nothing clears what a killed run left behind.
    remove_stale_temps(target.parent, re.escape(target.name))
    remove_stale_temps(_backups_dir(target), _backup_name(target))
    current = _read_current(target)
    if current == data:
        return None
    backup = _make_backup(target, current, dir_fd) if current is not None else None
    write_locked(target, data, dir_fd)
    _prune(target, keep)
    return backup


def install(path: Path, text: str, *, keep: int = DEFAULT_KEEP) -> Backup | None:
    """Write ``text`` to ``path``, first backing up a different previous file.

    Returns the backup made, or None when there was no previous file or it already held
    exactly ``text`` (then nothing at all is written). Keeps the newest ``keep`` backups.
    """
    _check_keep(keep)
    target = real_path(path)
    with locked_directory(target.parent) as dir_fd:
        return _install_bytes(target, text.encode("utf-8"), keep, dir_fd)


# ---------------------------------------------------------------------------------------------
# rollback


def verify_generated(data: bytes) -> str | None:
    """Why ``data`` is not a complete generated config, or None when it is one."""
    if not data.strip():
        return "it is empty"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "it is not UTF-8 text"
    if not text.startswith(MARKER_PREFIX):
        return f"its first line is not the {MARKER_PREFIX} marker"
    if not text.endswith("\n"):
        # Every generated file ends with a newline (yamllint's rule): a missing one means the
        # copy was cut off.
        return "it does not end with a newline (truncated?)"
    import yaml  # only rollback needs it: keeps `aibackend --help` and `backups` light

    # libyaml's loader when present: verifying a 16k-model backup should not take seconds.
    loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        loaded = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return f"it is not valid YAML{where}"
    if not isinstance(loaded, dict) or not isinstance(loaded.get("model_list"), list):
        return "it has no top-level model_list list"
    # A copy cut off at a line boundary can still be valid YAML: the header's body hash is the
    # check that catches it (files written before the hash existed have none to compare).
    metadata = parse_metadata(text)
    body_hash = hashlib.sha256(body_of(text).encode("utf-8")).hexdigest()
    if metadata is not None and metadata.body_sha256 and body_hash != metadata.body_sha256:
        return "its body does not match the sha256 in its header (truncated, or edited by hand)"
    return None


def verify_source(data: bytes) -> str | None:
    """Why ``data`` is not a readable source file (layer 1: UTF-8 YAML, a mapping), or None.

    Whether it also validates against the other files is for the caller to say: an older
    providers.yaml restored on purpose may need a matching model-mappings.yaml.
    """
    from generator.yamlsource import parse_yaml  # only rollback of a source file needs it

    parsed, problems = parse_yaml(data, "backup")
    if parsed is None:
        return problems[0].message if problems else "it is not YAML"
    if not data.endswith(b"\n"):
        return "it does not end with a newline (truncated?)"
    return None


GENERATED = FileKind(
    verify=verify_generated,
    made_by="a backup is made each time `aibackend generate` replaces a changed config",
    listed_by="`aibackend backups`",
    otherwise="or regenerate with `aibackend generate`",
)
PROVIDERS_SOURCE = FileKind(
    verify=verify_source,
    made_by="a backup is made each time `aibackend providers` or `aibackend switch` changes providers.yaml",
    listed_by="`aibackend providers backups`",
    otherwise="or edit the file by hand",
)


def rollback(
    path: Path, name: str | None = None, *, keep: int = DEFAULT_KEEP, kind: FileKind | None = None
) -> tuple[Backup, Backup | None]:
    """Restore backup ``name`` (default: the newest) as ``path``.

    The current file is backed up first, so the rollback can itself be rolled back; that
    safety backup is returned with the restored one (None when the current file was missing
    or already identical). A backup that is not a complete generated config is refused and
    nothing changes.
    """
    kind = kind or GENERATED
    _check_keep(keep)
    target = real_path(path)
    with locked_directory(target.parent) as dir_fd:
        chosen = find_backup(path, name, kind=kind)
        try:
            data = chosen.path.read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read backup {chosen.path}: {reason(exc)}") from exc
        problem = kind.verify(data)
        if problem is not None:
            raise StoreError(
                f"backup {chosen.name} is corrupted: {problem}; nothing was changed",
                hint=f"choose another backup from {kind.listed_by}, {kind.otherwise}",
            )
        safety = _install_bytes(target, data, keep, dir_fd)
        return chosen, safety
