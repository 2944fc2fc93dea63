#!/usr/bin/env bash
# What the browser and terminal tests look through (the dashboard, Locust's LLM tab, `aibackend top`):
# - Debian's chromium, driven headless by Playwright (the [dev] extra) through
#   executable_path=/usr/bin/chromium; Playwright's own browser download (`playwright install`) is
#   never used: it needs hosts this project does not reach. fonts-dejavu-core: text in the
#   screenshots the tests keep (chromium only recommends fonts).
# - tmux: `aibackend top` runs in a real terminal, its screen read with capture-pane.
#
# Idempotent: installs only what is missing.
set -euo pipefail

say() { printf '==> ui test tools: %s\n' "$*"; }

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-dejavu-core)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
if [ "${#need[@]}" -eq 0 ]; then
    say "already installed: $(chromium --version 2>/dev/null | head -n1), $(tmux -V)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "warning: not a Debian system; install ${need[*]} yourself (the dashboard's and top's tests need them)" >&2
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
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
say "installed: $(chromium --version 2>/dev/null | head -n1), $(tmux -V)"
