"""The generated config on disk: atomic writes, timestamped backups, rollback.

Every write goes through one path: a temporary file beside the target (same directory, so
``os.replace`` is an atomic rename on the same filesystem), written in full, fsynced, renamed
over the target, then the directory fsynced so the rename itself survives a power cut. A
failure at any step leaves the previous file byte-for-byte as it was and removes the
temporary file; a process killed outright (SIGKILL) may leave one behind, and the next write
in that directory removes it.

Writers of one directory are serialised with ``flock`` on the directory itself (no lock file
to leave behind), which is also what makes removing another run's stale temporary files safe.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from generator.errors import StoreError, UsageError
from generator.render import body_of, parse_metadata

__all__ = [
    "BACKUPS_DIR",
    "DEFAULT_KEEP",
    "GENERATED_MARKER",
    "GENERATED_NAME",
    "Backup",
    "find_backup",
    "install",
    "list_backups",
    "output_path",
    "require_directory",
    "rollback",
    "verify_generated",
    "write_atomic",
]

GENERATED_NAME = "litellm-unified.yaml"
GENERATED_MARKER = "# AUTO-GENERATED"
BACKUPS_DIR = "backups"
DEFAULT_KEEP = 10
_NEW_FILE_MODE = 0o644
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


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically and durably; see the module docstring."""
    target = _real_path(path)
    with _locked_directory(target.parent) as dir_fd:
        _write_config(target, text.encode("utf-8"), dir_fd)


def _write_config(target: Path, data: bytes, dir_fd: int) -> None:
    try:
        _replace_atomically(target, data, dir_fd)
    except OSError as exc:
        raise StoreError(
            f"could not write {target}: {_reason(exc)}; the previous file was left unchanged",
            hint="check free space and permissions of that directory, then run the command again",
        ) from exc


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _real_path(path: Path) -> Path:
    # Write through a symlink rather than replacing the link with a regular file; other paths
    # stay as the user gave them, so messages and listings show them that way.
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


@contextmanager
def _locked_directory(directory: Path) -> Iterator[int]:
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise StoreError(
            f"cannot open directory {directory}: {_reason(exc)}",
            hint="create it first, or pass --config-dir / --output pointing at an existing directory",
        ) from exc
    try:
        fcntl.flock(dir_fd, fcntl.LOCK_EX)
        yield dir_fd
    finally:
        os.close(dir_fd)  # closing releases the flock


def _temp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")


def _remove_stale_temps(directory: Path, name_pattern: str) -> None:
    """Remove the temporary files a killed run left for files named like ``name_pattern``.

    Callers hold the directory lock, so no live writer owns such a file.
    """
    pattern = re.compile(rf"^\.{name_pattern}\.[0-9a-f]{{16}}\.tmp$")
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return  # no such directory, so nothing to clean; writing there reports the problem
    for name in names:
        if pattern.match(name):
            try:
                os.unlink(directory / name)
            except FileNotFoundError:
                pass


def _fsync_directory(dir_fd: int) -> None:
    try:
        os.fsync(dir_fd)
    except OSError as exc:
        # Some filesystems cannot fsync a directory at all; renames there are as durable as
        # they get. Any other error is a real I/O failure.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_temp(target: Path, data: bytes, mode: int) -> Path:
    temp = _temp_path(target)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, mode)
        _write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(temp)
        raise
    os.close(fd)
    return temp


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _preserve_previous(target: Path) -> Path | None:
    """A second name for the current file, so a failed directory fsync can put it back."""
    keep = _temp_path(target)
    try:
        os.link(target, keep)
    except FileNotFoundError:
        return None
    except OSError:
        # A filesystem without hard links: a copy serves the same purpose.
        try:
            previous = target.read_bytes()
        except FileNotFoundError:
            return None
        return _write_temp(target, previous, stat.S_IMODE(os.stat(target).st_mode))
    return keep


def _replace_atomically(target: Path, data: bytes, dir_fd: int) -> None:
    """Temp file, write, fsync, rename, fsync the directory; raises OSError on failure.

    Callers hold the directory lock.
    """
    _remove_stale_temps(target.parent, re.escape(target.name))
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = _NEW_FILE_MODE
    temp: Path | None = None
    previous: Path | None = None
    try:
        temp = _write_temp(target, data, mode)
        previous = _preserve_previous(target)
        os.replace(temp, target)
        temp = None
        try:
            _fsync_directory(dir_fd)
        except BaseException:
            _put_back(target, previous, dir_fd)
            previous = None
            raise
    finally:
        if temp is not None:
            _unlink_quietly(temp)
        if previous is not None:
            _unlink_quietly(previous)


def _put_back(target: Path, previous: Path | None, dir_fd: int) -> None:
    # The rename happened but could not be made durable: undo it, so the caller's promise
    # ("on failure the old file is as it was") holds for this process and after a crash alike.
    try:
        if previous is None:
            os.unlink(target)
        else:
            os.replace(previous, target)
        os.fsync(dir_fd)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# backups


def _backups_dir(path: Path) -> Path:
    return path.parent / BACKUPS_DIR


def _backup_name(path: Path) -> str:
    """A regex for the names of ``path``'s backups, the timestamp in group ``stamp``."""
    return rf"{re.escape(path.stem)}\.(?P<stamp>{_TIMESTAMP_PATTERN})\.yaml"


def list_backups(path: Path) -> list[Backup]:
    """The backups of the generated file ``path``, newest first."""
    target = _real_path(path)
    directory = _backups_dir(target)
    pattern = re.compile(rf"^{_backup_name(target)}$")
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreError(
            f"cannot list backups in {directory}: {_reason(exc)}",
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


def find_backup(path: Path, name: str | None = None) -> Backup:
    """The backup called ``name`` (with or without ``.yaml``, or its path), else the newest."""
    backups = list_backups(path)
    if not backups:
        raise StoreError(
            f"there are no backups of {path} (looked in {_backups_dir(path)})",
            hint="a backup is made each time `aibackend generate` replaces a changed config",
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
            _fsync_directory(dir_fd)  # the new directory entry must survive a crash too
        with _open_directory(directory) as backups_fd:
            _replace_atomically(backup_path, data, backups_fd)
    except OSError as exc:
        raise StoreError(
            f"could not back up {target} to {backup_path}: {_reason(exc)}; nothing was changed",
            hint="check free space and permissions of the backups directory, then run the command again",
        ) from exc
    return Backup(path=backup_path, name=backup_path.name, created=created, size=len(data))


@contextmanager
def _open_directory(directory: Path) -> Iterator[int]:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield fd
    finally:
        os.close(fd)


def _prune(target: Path, keep: int) -> None:
    for backup in list_backups(target)[keep:]:
        try:
            os.unlink(backup.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreError(
                f"the config was written, but the old backup {backup.path} could not be removed: "
                f"{_reason(exc)}"
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
        raise StoreError(f"cannot read {target}: {_reason(exc)}") from exc


def _install_bytes(target: Path, data: bytes, keep: int, dir_fd: int) -> Backup | None:
    # Even a run that writes nothing clears what a killed run left behind.
    _remove_stale_temps(target.parent, re.escape(target.name))
    _remove_stale_temps(_backups_dir(target), _backup_name(target))
    current = _read_current(target)
    if current == data:
        return None
    backup = _make_backup(target, current, dir_fd) if current is not None else None
    _write_config(target, data, dir_fd)
    _prune(target, keep)
    return backup


def install(path: Path, text: str, *, keep: int = DEFAULT_KEEP) -> Backup | None:
    """Write ``text`` to ``path``, first backing up a different previous file.

    Returns the backup made, or None when there was no previous file or it already held
    exactly ``text`` (then nothing at all is written). Keeps the newest ``keep`` backups.
    """
    _check_keep(keep)
    target = _real_path(path)
    with _locked_directory(target.parent) as dir_fd:
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
    if not text.startswith(GENERATED_MARKER):
        return f"its first line is not the {GENERATED_MARKER} marker"
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


def rollback(
    path: Path, name: str | None = None, *, keep: int = DEFAULT_KEEP
) -> tuple[Backup, Backup | None]:
    """Restore backup ``name`` (default: the newest) as ``path``.

    The current file is backed up first, so the rollback can itself be rolled back; that
    safety backup is returned with the restored one (None when the current file was missing
    or already identical). A backup that is not a complete generated config is refused and
    nothing changes.
    """
    _check_keep(keep)
    target = _real_path(path)
    with _locked_directory(target.parent) as dir_fd:
        chosen = find_backup(path, name)
        try:
            data = chosen.path.read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read backup {chosen.path}: {_reason(exc)}") from exc
        problem = verify_generated(data)
        if problem is not None:
            raise StoreError(
                f"backup {chosen.name} is corrupted: {problem}; nothing was changed",
                hint="choose another backup from `aibackend backups`, or regenerate with `aibackend generate`",
            )
        safety = _install_bytes(target, data, keep, dir_fd)
        return chosen, safety
