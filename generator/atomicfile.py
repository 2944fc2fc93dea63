"""Atomic, durable file writes: the one way this project replaces a file on disk.

A temporary file beside the target (same directory, so ``os.replace`` is an atomic rename on the
same filesystem) is written in full, fsynced, renamed over the target, then the directory is
fsynced so the rename itself survives a power cut. A failure at any step leaves the previous file
byte-for-byte as it was and removes the temporary file; a process killed outright (SIGKILL) may
leave one behind, and the next write of that file removes it.

Writers of one directory are serialised with ``flock`` on the directory itself (no lock file to
leave behind), which is also what makes removing another run's stale temporary files safe.
``generator.store`` builds the generated config's backups and rollback on these primitives;
everything else (run-time state, reports, JUnit files) calls ``write_atomic``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from generator.errors import StoreError

__all__ = [
    "NEW_FILE_MODE",
    "fsync_directory",
    "locked_directory",
    "open_directory",
    "real_path",
    "reason",
    "remove_stale_temps",
    "replace_atomically",
    "write_atomic",
    "write_locked",
]

NEW_FILE_MODE = 0o644


def write_atomic(path: Path, data: str | bytes, *, make_parents: bool = False) -> None:
    """Replace ``path`` with ``data`` (text as UTF-8) atomically and durably; StoreError on failure."""
    target = real_path(path)
    if make_parents:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create directory {target.parent}: {reason(exc)}") from exc
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with locked_directory(target.parent) as dir_fd:
        write_locked(target, payload, dir_fd)


def write_locked(target: Path, data: bytes, dir_fd: int) -> None:
    """``replace_atomically`` for a caller holding the directory lock; StoreError on failure."""
    try:
        replace_atomically(target, data, dir_fd)
    except OSError as exc:
        raise StoreError(
            f"could not write {target}: {reason(exc)}; the previous file was left unchanged",
            hint="check free space and permissions of that directory, then run the command again",
        ) from exc


def reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def real_path(path: Path) -> Path:
    # Write through a symlink rather than replacing the link with a regular file; other paths
    # stay as the user gave them, so messages and listings show them that way.
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


@contextmanager
def locked_directory(directory: Path) -> Iterator[int]:
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise StoreError(
            f"cannot open directory {directory}: {reason(exc)}",
            hint="create it first, or pass --config-dir / --output pointing at an existing directory",
        ) from exc
    try:
        fcntl.flock(dir_fd, fcntl.LOCK_EX)
        try:
            yield dir_fd
        finally:
            # Unlock explicitly rather than by closing: under gevent (Locust's report writer) the
            # close can be deferred, and the next write to this directory would wait on its own lock.
            fcntl.flock(dir_fd, fcntl.LOCK_UN)
    finally:
        os.close(dir_fd)


def _temp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")


def remove_stale_temps(directory: Path, name_pattern: str) -> None:
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


def fsync_directory(dir_fd: int) -> None:
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


def replace_atomically(target: Path, data: bytes, dir_fd: int) -> None:
    """Temp file, write, fsync, rename, fsync the directory; raises OSError on failure.

    Callers hold the directory lock.
    """
    remove_stale_temps(target.parent, re.escape(target.name))
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    temp: Path | None = None
    previous: Path | None = None
    try:
        temp = _write_temp(target, data, mode)
        previous = _preserve_previous(target)
        os.replace(temp, target)
        temp = None
        try:
            fsync_directory(dir_fd)
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


@contextmanager
def open_directory(directory: Path) -> Iterator[int]:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield fd
    finally:
        os.close(fd)
