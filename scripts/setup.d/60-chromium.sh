#!/usr/bin/env bash
# A real browser for the dashboard's tests (issue 16): Debian's chromium, driven headless by
# Playwright (the [dev] extra) through executable_path=/usr/bin/chromium. Playwright's own browser
# download (`playwright install`) is never used: it needs hosts this project does not reach.
#
# Idempotent: installs only when /usr/bin/chromium is missing.
set -euo pipefail

say() { printf '==> chromium: %s\n' "$*"; }

if command -v chromium >/dev/null 2>&1; then
    say "already installed: $(chromium --version 2>/dev/null | head -n1)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "warning: not a Debian system; install chromium yourself (the dashboard's browser tests need it)" >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "error: need root (or sudo) to install: chromium" >&2
        echo "  hint: sudo apt-get install -y --no-install-recommends chromium" >&2
        exit 1
    fi
fi
say "installing Debian package: chromium"
$sudo apt-get update -qq
# fonts-dejavu-core: text in the screenshots the tests keep (chromium only recommends fonts).
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
say "installed: $(chromium --version 2>/dev/null | head -n1)"
