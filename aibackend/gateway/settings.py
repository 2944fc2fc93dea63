"""What the gateway commands need from the sources: the server block and the generated config.

Read through the compiler (``generator.pipeline.build``), so the gateway is only ever started
on sources that validate and on exactly the text ``generate`` writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generator.errors import ConfigInvalid

__all__ = ["GatewayPlan", "plan_for"]


@dataclass(frozen=True)
class GatewayPlan:
    """The validated sources' server settings and the config text they compile to."""

    host: str
    port: int
    workers: int
    master_key_env: str
    config_text: str
    backups_keep: int
    replicas: int = 1
    # Where the LiteLLM processes share their state, when there are several (router_settings.redis_*).
    state_redis: tuple[str, int] | None = None
    # The operator's readiness wait in seconds (--ready-timeout); None: scaled to the deployments.
    ready_timeout: float | None = None


def plan_for(config_dir: Path) -> GatewayPlan:
    """Validate and compile ``config_dir``; raise ConfigInvalid (exit 1) when it has errors."""
    from generator.pipeline import build  # the compiler: imported late, it pulls pydantic models

    result = build(config_dir)
    if not result.ok or result.sources is None or result.text is None:
        raise ConfigInvalid(result.diagnostics)
    from generator.render import shared_state

    gateway = result.sources.gateway
    server = gateway.server
    return GatewayPlan(
        host=str(server.host),
        port=int(server.port),
        workers=int(server.workers),
        master_key_env=str(server.master_key_env),
        config_text=result.text,
        backups_keep=int(gateway.backups.keep),
        replicas=int(server.replicas),
        state_redis=(str(gateway.cache.host), int(gateway.cache.port)) if shared_state(gateway) else None,
    )
