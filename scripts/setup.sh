#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: system packages, .venv, Python packages.
# Run by `make setup` (and so by `make test` / `make demo`). Safe to run again: every step
# checks before it acts, and the Python install is skipped while its inputs are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=".venv"

say() { printf '==> %s\n' "$*"; }

# --- system packages (Debian) --------------------------------------------------------------
apt_install() {
    local missing=("$@")
    [ "${#missing[@]}" -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
            echo "error: need root (or sudo) to install: ${missing[*]}" >&2
            echo "  hint: sudo apt-get install -y ${missing[*]}" >&2
            exit 1
        fi
    fi
    say "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
if [ "${#need[@]}" -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1; then
        apt_install "${need[@]}"
    else
        echo "warning: not a Debian system; install ${need[*]} yourself" >&2
    fi
fi
# The Debian package enables a system redis on 6379; the project never uses it (tests start
# their own on free ports), and it is left as the administrator configured it.

# --- virtual environment and Python packages ----------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.installed"
inputs_hash="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$inputs_hash" ]; then
    say "installing Python packages (pinned by constraints.txt)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade 'pip>=24'
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
    echo "$inputs_hash" > "$stamp"
else
    say "Python packages up to date"
fi

# --- optional extra steps contributed by later issues (each idempotent, each cached) ------
for extra in scripts/setup.d/*.sh; do
    [ -e "$extra" ] || continue
    say "running $extra"
    bash "$extra"
done
say "set-up complete"
