"""Changing providers.yaml for the operator (``aibackend providers``, ``switch``): validated before
written, backed up, applied on request.

1. the edit is made on the text (``generator.source_edit``: every other byte kept);
2. the edited text goes through every validation layer in memory (``build(texts=...)``; staleness
   aside: the generated file is about to be replaced) — an invalid edit writes nothing and raises
   ``ConfigInvalid`` with file, line and reason, as ``validate`` prints them;
3. it is written atomically, the previous file kept in ``backups/`` (``generator.store``), so
   ``aibackend providers rollback`` undoes it;
4. with ``apply``, the generated config is regenerated and a running gateway reloaded the way
   ``aibackend reload`` does it (blue/green behind HAProxy); a reload that rolls back restores the
   previous providers.yaml too.

One edit at a time per config directory: ``editing()`` holds ``.run/sources.lock``.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from generator import store
from generator.diagnostics import Diagnostic, errors_of, warnings_of
from generator.errors import AibackendError, ConfigInvalid, GatewayError, UsageError
from generator.layers import ALL
from generator.load import PROVIDERS_FILE, display_path
from generator.pipeline import Build, build

__all__ = [
    "EDIT_LAYERS",
    "Applied",
    "EditInvalid",
    "Proposal",
    "apply",
    "editing",
    "gateway_running",
    "propose",
    "providers_path",
    "reload_failed",
    "restore",
    "write",
]

# Every layer but staleness: the edit is what makes the generated file stale, on purpose.
EDIT_LAYERS: tuple[str, ...] = tuple(name for name in ALL if name != "staleness")


class EditInvalid(ConfigInvalid):
    """The edited registry would not validate: refused, nothing written (the diagnostics say why)."""

    def __init__(self, diagnostics: list[Diagnostic], display: str) -> None:
        super().__init__(diagnostics)
        self.message = (
            f"refused: with this change {display} would be invalid ({len(errors_of(diagnostics))} error(s) above); "
            "nothing was written"
        )


def providers_path(config_dir: Path) -> Path:
    return Path(config_dir) / PROVIDERS_FILE


@dataclass(frozen=True)
class Proposal:
    """An edit of providers.yaml that validated in memory, not yet written."""

    config_dir: Path
    path: Path
    display: str
    old: str
    new: str
    build: Build

    @property
    def changed(self) -> bool:
        return self.old != self.new

    @property
    def warnings(self) -> list[Diagnostic]:
        return warnings_of(self.build.diagnostics)

    @property
    def keep(self) -> int:
        assert self.build.sources is not None
        return int(self.build.sources.gateway.backups.keep)

    def diff(self) -> str:
        return "".join(difflib.unified_diff(
            self.old.splitlines(keepends=True), self.new.splitlines(keepends=True),
            fromfile=f"{self.display} (now)", tofile=f"{self.display} (edited)", n=1,
        ))


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"{display_path(path)} not found",
            hint="pass --config-dir DIR (default: config/), a directory holding providers.yaml",
        ) from None
    except UnicodeDecodeError:
        raise ConfigInvalid([Diagnostic("yaml-encoding", "not valid UTF-8", display_path(path), line=None,
                                        hint="save the file as UTF-8")]) from None
    except OSError as exc:
        raise UsageError(f"cannot read {display_path(path)}: {exc.strerror}") from exc


def propose(
    config_dir: Path, change: Callable[[str, str], str], *, layers: tuple[str, ...] = EDIT_LAYERS
) -> Proposal:
    """Apply ``change(text, display)`` to providers.yaml in memory and validate the result.

    Only the result must validate (an edit may be what repairs the file); ``ConfigInvalid``
    when it does not, and nothing is written.
    """
    path = providers_path(config_dir)
    display = display_path(path)
    old = _read(path)
    new = change(old, display)
    result = build(config_dir, layers=layers, texts={"providers": new}, staleness_severity="warning")
    if errors_of(result.diagnostics) or result.text is None:
        raise EditInvalid(result.diagnostics, display)
    return Proposal(Path(config_dir), path, display, old, new, result)


def write(proposal: Proposal) -> store.Backup | None:
    """Write the edited providers.yaml (atomically), keeping the previous one as a backup."""
    if not proposal.changed:
        return None
    if _read(proposal.path) != proposal.old:
        raise AibackendError(
            f"{proposal.display} changed while this command ran; nothing was written",
            hint="run the command again",
        )
    return store.install(proposal.path, proposal.new, keep=proposal.keep)


def restore(proposal: Proposal) -> None:
    """Put the text from before the edit back (the edited one is kept as a backup)."""
    store.install(proposal.path, proposal.old, keep=proposal.keep)


def gateway_running(config_dir: Path) -> bool:
    from aibackend.gateway.control import status
    from aibackend.gateway.runtime import RuntimeDir

    return status(RuntimeDir(config_dir)).running


@dataclass(frozen=True)
class Applied:
    reloaded: bool  # a running gateway now serves the new config
    message: str
    backup: str | None  # the generated config it replaced, kept in backups/


def apply(config_dir: Path, *, config_text: str | None, keep: int) -> Applied:
    """Regenerate the gateway config; reload a running gateway (blue/green, gated, or rolled back).

    ``config_text`` is what the validated sources compile to (``Proposal.build.text``; None:
    compile them now), written as is when no gateway runs. A reload that fails raises
    GatewayError after restoring the previous generated config and leaving the old gateway
    serving (``aibackend reload``'s rules).
    """
    from generator.store import output_path

    config_file = output_path(config_dir)
    if not gateway_running(config_dir):
        if config_text is None:
            from aibackend.gateway.settings import plan_for

            config_text = plan_for(config_dir).config_text
        backup = store.install(config_file, config_text, keep=keep)
        return Applied(False, f"wrote {display_path(config_file)} (no gateway is running, so none was reloaded)",
                       backup.name if backup else None)
    from aibackend.extras import require
    from aibackend.gateway.reload import recover, reload
    from aibackend.gateway.runtime import RuntimeDir

    require("litellm")
    run = RuntimeDir(config_dir)
    with run.lock():
        note = recover(run)
        result = reload(run, config_dir=config_dir, config_file=config_file)
    message = f"reloaded the gateway: {result.message}"
    if note:
        message = f"{note}; {message}"
    return Applied(True, message, result.backup)


@contextlib.contextmanager
def editing(config_dir: Path) -> Iterator[None]:
    """One edit of a config directory's sources at a time (two switches at once would mix engines)."""
    run_dir = Path(config_dir) / ".run"
    try:
        run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {run_dir}: {exc.strerror}") from exc
    with open(run_dir / "sources.lock", "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AibackendError(
                f"another aibackend command (providers or switch) is changing {display_path(Path(config_dir))}",
                hint="wait for it to finish, then run this one again",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def reload_failed(exc: GatewayError, proposal: Proposal) -> AibackendError:
    """The error to show when applying an edit failed: the edit is undone too."""
    restore(proposal)
    return GatewayError(
        f"{exc.message}; {proposal.display} was restored to its state before the edit",
        hint=exc.hint,
    )
