#!/usr/bin/env bash
# Re-fetch the dashboard's chart library (uPlot) from npm and check it against its pins.
#
#   bash scripts/vendor-uplot.sh            # the pinned version: refetch, verify, copy (a no-op diff)
#   bash scripts/vendor-uplot.sh 1.6.33     # another version: fetch it, then update PINS.md by hand
#
# The dashboard works offline: the files live in the package (aibackend/dashboard/static/vendor/uplot/)
# and ship in the wheel; nothing is loaded from a CDN. npm is needed only to run this script.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="${1:-1.6.32}"
# sha512 integrity of the npm tarball of the pinned version (npm view uplot@1.6.32 dist.integrity).
PINNED_INTEGRITY="sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=="
DEST="aibackend/dashboard/static/vendor/uplot"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "uplot@$VERSION" >/dev/null)
tarball="$(ls "$work"/uplot-*.tgz)"
integrity="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$VERSION" = "1.6.32" ] && [ "$integrity" != "$PINNED_INTEGRITY" ]; then
    echo "error: uplot@$VERSION from npm does not match its pinned integrity" >&2
    echo "  got      $integrity" >&2
    echo "  expected $PINNED_INTEGRITY" >&2
    exit 1
fi
tar -xzf "$tarball" -C "$work"
cp "$work/package/dist/uPlot.iife.min.js" "$work/package/dist/uPlot.min.css" "$work/package/LICENSE" "$DEST/"
echo "uplot@$VERSION: tarball sha256 $(sha256sum "$tarball" | cut -d' ' -f1), integrity $integrity"
(cd "$DEST" && sha256sum uPlot.iife.min.js uPlot.min.css LICENSE)
