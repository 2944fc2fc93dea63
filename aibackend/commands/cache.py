"""``aibackend cache stats|keys|flush``: the gateway's Redis cache (hit rate, keys, memory, TTLs)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HELP = "inspect or flush the gateway's Redis cache: stats, keys, flush [--yes]"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    stats = sub.add_parser("stats", help="hit rate, key count, memory, TTLs, persistence")
    keys = sub.add_parser("keys", help="the cache's keys with their TTL and memory")
    flush = sub.add_parser("flush", help="delete the cache's keys (asks first unless --yes)")
    for each in (stats, keys, flush):
        each.add_argument("--config-dir", type=Path, default=argparse.SUPPRESS, metavar="DIR",
                          help="directory holding gateway.yaml (default: config/)")
    for each in (stats, keys):
        each.add_argument("--json", action="store_true", help="print one JSON object")
    keys.add_argument("--limit", type=int, default=50, metavar="N", help="at most N keys, sorted (default 50)")
    flush.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _ttl_text(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:g} s"


def _print_stats(data: dict[str, Any]) -> None:
    rate = data["hit_rate"]
    print(f"Redis cache at {data['address']} (keys matching {data['pattern']!r})")
    print(f"  keys          {data['keys']} (database: {data['db_keys']})")
    print(f"  hit rate      {'-' if rate is None else f'{rate:.1%}'} ({data['hits']} hits, {data['misses']} misses "
          "since Redis started)")
    limit = "no limit" if not data["maxmemory_bytes"] else f"max {data['maxmemory_bytes']} bytes"
    print(f"  memory        {data['used_memory_human']} ({limit}, policy {data['maxmemory_policy']})")
    print(f"  TTL           min {_ttl_text(data['ttl_min_s'])}, median {_ttl_text(data['ttl_median_s'])}, "
          f"max {_ttl_text(data['ttl_max_s'])}; {data['without_ttl']} without expiry "
          f"({data['ttl_sampled']} keys sampled)")
    print(f"  persistence   AOF {'on' if data['aof_enabled'] else 'off'}, last RDB save at "
          f"{data['rdb_last_save_time']} (unix time)")


def _confirm(question: str) -> bool:
    from generator.errors import AibackendError

    if not sys.stdin.isatty():
        raise AibackendError("refusing to flush the cache without confirmation: stdin is not a terminal",
                             hint="pass --yes to flush without asking")
    answer = input(f"{question} [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    from aibackend.observability.files import load_valid_sources
    from aibackend.ops.cache import cache_keys, cache_stats, connect, flush_cache, key_pattern

    sources = load_valid_sources(args.config_dir)
    namespace = sources.gateway.cache.namespace
    client, address = connect(sources)
    try:
        if args.action == "stats":
            data = cache_stats(client, address, namespace).to_json()
            if args.json:
                print(json.dumps(data, indent=2))
            else:
                _print_stats(data)
            return 0
        if args.action == "keys":
            found = cache_keys(client, namespace, limit=args.limit)
            if args.json:
                print(json.dumps([{"key": k.key, "ttl_s": k.ttl_s, "memory_bytes": k.memory_bytes} for k in found],
                                 indent=2))
                return 0
            for key in found:
                print(f"{key.key}  ttl {_ttl_text(key.ttl_s)}  {key.memory_bytes} bytes")
            print(f"{len(found)} key(s) shown (pattern {key_pattern(namespace)!r}, limit {args.limit})")
            return 0
        what = f"keys matching {key_pattern(namespace)!r}" if namespace else "EVERY key of the database"
        if not args.yes and not _confirm(f"Delete {what} from Redis at {address}?"):
            print("nothing deleted")
            return 1
        deleted = flush_cache(client, namespace)
        print(f"deleted {deleted} key(s) from Redis at {address}")
        return 0
    finally:
        client.close()
