"""The gateway's Redis cache, seen from the operator's side (the seed's monitor-redis-cache).

``connect(sources)`` opens the Redis that gateway.yaml's ``cache`` names (password from the
environment variable it names); ``cache_stats``, ``cache_keys`` and ``flush_cache`` work on any
``redis.Redis`` client. With ``cache.namespace`` set, keys and flush cover ``<namespace>:*`` only;
without it, every key of the database (LiteLLM's cache keys are bare hashes).

Hit rate is Redis's own (``keyspace_hits`` / (hits + misses) since Redis started): LiteLLM keeps an
in-memory cache in front of Redis, so this counts what reached Redis, not every gateway hit.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import asdict, dataclass
from typing import Any

import redis

from generator.errors import AibackendError, UsageError
from generator.load import Sources

__all__ = ["CacheKey", "CacheStats", "CacheUnavailable", "cache_keys", "cache_stats", "connect", "flush_cache", "key_pattern"]

SAMPLE_LIMIT = 1000  # keys whose TTL is sampled for the statistics


class CacheUnavailable(AibackendError):
    """Redis could not be reached or refused the credentials."""


@dataclass(frozen=True)
class CacheKey:
    key: str
    ttl_s: int | None  # None: no expiry
    memory_bytes: int | None


@dataclass(frozen=True)
class CacheStats:
    address: str
    pattern: str
    keys: int
    db_keys: int
    hits: int
    misses: int
    hit_rate: float | None
    used_memory_bytes: int
    used_memory_human: str
    maxmemory_bytes: int
    maxmemory_policy: str
    ttl_sampled: int
    ttl_min_s: int | None
    ttl_median_s: float | None
    ttl_max_s: int | None
    without_ttl: int
    aof_enabled: bool
    rdb_last_save_time: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def key_pattern(namespace: str | None) -> str:
    return f"{namespace}:*" if namespace else "*"


def connect(sources: Sources, environ: dict[str, str] | None = None) -> tuple[redis.Redis, str]:
    """A client for the configured cache, checked with PING; ``(client, "host:port")``."""
    cache = sources.gateway.cache
    where = sources.files.get("gateway", "gateway.yaml")
    if not cache.enabled or cache.type != "redis":
        raise UsageError(f"{where}: cache is not a Redis cache (cache.enabled/cache.type), nothing to inspect")
    env = os.environ if environ is None else environ
    password = None
    if cache.password_env:
        password = env.get(cache.password_env)
        if not password:
            raise UsageError(
                f"the cache password is read from the environment variable {cache.password_env} "
                f"({where}: cache.password_env), which is not set",
                hint=f"export {cache.password_env}=... (the password the Redis server was started with)",
            )
    address = f"{cache.host}:{cache.port}"
    client = redis.Redis(host=cache.host, port=cache.port, password=password, socket_timeout=5,
                         socket_connect_timeout=5, decode_responses=True)
    try:
        client.ping()
    except redis.exceptions.AuthenticationError as exc:
        raise CacheUnavailable(f"Redis at {address} refused the password from {cache.password_env}: {exc}") from exc
    except redis.exceptions.ResponseError as exc:  # NOAUTH: a password is needed and none was given
        raise CacheUnavailable(f"Redis at {address}: {exc}", hint="set cache.password_env in gateway.yaml") from exc
    except redis.exceptions.ConnectionError as exc:
        raise CacheUnavailable(f"cannot connect to Redis at {address}: {exc}",
                               hint="is redis-server running? (aibackend deploy systemd writes a unit for it)") from exc
    return client, address


def _scan(client: redis.Redis, pattern: str, limit: int | None = None) -> list[str]:
    found: list[str] = []
    for key in client.scan_iter(match=pattern, count=500):
        found.append(str(key))
        if limit is not None and len(found) >= limit:
            break
    return found


def _ttl(value: int) -> int | None:
    return None if value < 0 else value  # -1: no expiry (-2: gone meanwhile, treated alike)


def cache_stats(client: redis.Redis, address: str, namespace: str | None) -> CacheStats:
    pattern = key_pattern(namespace)
    info: dict[str, Any] = client.info()
    keys = _scan(client, pattern)
    sample = keys[:SAMPLE_LIMIT]
    pipe = client.pipeline(transaction=False)
    for key in sample:
        pipe.ttl(key)
    ttls = [_ttl(int(value)) for value in pipe.execute()]
    with_ttl = [t for t in ttls if t is not None]
    hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
    return CacheStats(
        address=address,
        pattern=pattern,
        keys=len(keys),
        db_keys=int(client.dbsize()),
        hits=hits,
        misses=misses,
        hit_rate=hits / (hits + misses) if hits + misses else None,
        used_memory_bytes=int(info.get("used_memory", 0)),
        used_memory_human=str(info.get("used_memory_human", "")),
        maxmemory_bytes=int(info.get("maxmemory", 0)),
        maxmemory_policy=str(info.get("maxmemory_policy", "")),
        ttl_sampled=len(sample),
        ttl_min_s=min(with_ttl) if with_ttl else None,
        ttl_median_s=statistics.median(with_ttl) if with_ttl else None,
        ttl_max_s=max(with_ttl) if with_ttl else None,
        without_ttl=len(ttls) - len(with_ttl),
        aof_enabled=bool(int(info.get("aof_enabled", 0))),
        rdb_last_save_time=int(info.get("rdb_last_save_time", 0)),
    )


def cache_keys(client: redis.Redis, namespace: str | None, limit: int = 50) -> list[CacheKey]:
    keys = sorted(_scan(client, key_pattern(namespace)))[:limit]
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.ttl(key)
        pipe.memory_usage(key)
    values = pipe.execute()
    return [
        CacheKey(key, _ttl(int(values[2 * i])), int(values[2 * i + 1]) if values[2 * i + 1] is not None else None)
        for i, key in enumerate(keys)
    ]


def flush_cache(client: redis.Redis, namespace: str | None) -> int:
    """Delete the cache's keys; the number deleted. Without a namespace: the whole database."""
    if namespace is None:
        count = int(client.dbsize())
        client.flushdb()
        return count
    deleted = 0
    batch: list[str] = []
    for key in client.scan_iter(match=key_pattern(namespace), count=500):
        batch.append(str(key))
        if len(batch) >= 500:
            deleted += int(client.unlink(*batch))
            batch.clear()
    if batch:
        deleted += int(client.unlink(*batch))
    return deleted
