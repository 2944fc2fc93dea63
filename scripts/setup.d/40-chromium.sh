#!/usr/bin/env bash
# A real browser for the web-UI tests (issue 12: Locust's LLM tab): Debian's chromium, driven
# headless by Playwright (the Python package, from the [dev] extra) pointed at /usr/bin/chromium.
# Playwright's own browser download is never used (`playwright install` is not run).
#
# Idempotent: installs only what is missing.
set -euo pipefail

say() { printf '==> chromium: %s\n' "$*"; }

if command -v chromium >/dev/null 2>&1; then
    say "already installed: $(chromium --version 2>/dev/null | head -n1)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "warning: not a Debian system; install chromium yourself (the web-UI tests drive it)" >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "error: need root (or sudo) to install chromium" >&2
        echo "  hint: sudo apt-get install -y --no-install-recommends chromium" >&2
        exit 1
    fi
fi
say "installing Debian's chromium"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
say "installed: $(chromium --version 2>/dev/null | head -n1)"
