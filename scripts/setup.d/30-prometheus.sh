#!/usr/bin/env bash
# Observability tools (issue 7): Debian's Prometheus (brings promtool, which the tests use to
# check the generated config, rules and dashboard queries) and the Redis exporter (the Redis-down
# alert and the system dashboard read its redis_* metrics; Redis itself does not speak HTTP).
# `systemd-analyze` (package systemd) verifies the generated units.
#
# Idempotent: installs only what is missing. The Debian packages ship system services
# (prometheus on :9090, prometheus-redis-exporter on :9121); the project never uses them: tests
# start their own on free ports. Where systemd runs as PID 1 they are stopped and disabled here,
# unless AIBACKEND_KEEP_SYSTEM_PROMETHEUS=1, so that they do not take those ports by surprise.
set -euo pipefail

say() { printf '==> prometheus: %s\n' "$*"; }

need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-redis-exporter >/dev/null 2>&1 || need+=(prometheus-redis-exporter)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
if [ "${#need[@]}" -eq 0 ]; then
    say "already installed: $(prometheus --version 2>&1 | head -n1)"
    exit 0
fi
# de-duplicate (prometheus appears twice when both binaries are missing)
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)

if ! command -v apt-get >/dev/null 2>&1; then
    echo "warning: not a Debian system; install ${need[*]} yourself (the observability tests need promtool)" >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "error: need root (or sudo) to install: ${need[*]}" >&2
        echo "  hint: sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
        exit 1
    fi
fi
say "installing Debian packages: ${need[*]}"
$sudo apt-get update -qq
# --no-install-recommends: no node exporter, no web console extras.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

if [ "${AIBACKEND_KEEP_SYSTEM_PROMETHEUS:-}" != "1" ] && [ -d /run/systemd/system ]; then
    for unit in prometheus.service prometheus-redis-exporter.service; do
        $sudo systemctl disable --now "$unit" >/dev/null 2>&1 || true
    done
fi
say "installed: $(prometheus --version 2>&1 | head -n1)"
