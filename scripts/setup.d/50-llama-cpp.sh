#!/usr/bin/env bash
# Real llama.cpp engines for the engine tests (issue 8): llama-cpp-python's server and the native
# llama-server, both compiled on this machine from ONE PyPI source distribution, plus `gguf` to
# write the tiny test model. Both builds are cached outside the repo, keyed by version and build
# flags, so only the first run on a machine compiles (10-20 min on 2 idle cores, ~90 min measured under
# heavy load); re-runs take under a second.
#
# llama-cpp-python stays out of constraints.txt and the dev extra on purpose: pip would compile it
# in every main install. This script owns its pin.
#
# Environment: AIBACKEND_CACHE_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/aibackend),
#              AIBACKEND_SKIP_LLAMA_CPP=1 skips this step (the engine tests then skip, saying so).
set -euo pipefail
cd "$(dirname "$0")/../.."

LLAMA_CPP_PYTHON_VERSION="0.3.36"
GGUF_VERSION="0.19.0"
# Extras of llama-cpp-python[server] that constraints.txt does not pin (the rest it does).
SERVER_EXTRA_PINS=("diskcache==5.6.3" "starlette-context==0.3.6")

# CPU-only, portable (no -march=native: the cache may outlive a CPU change), no network at
# build time: no curl, no OpenSSL, no web UI download.
COMMON_CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF"
WHEEL_CMAKE_ARGS="$COMMON_CMAKE_ARGS -DLLAVA_BUILD=OFF"
SERVER_CMAKE_ARGS="$COMMON_CMAKE_ARGS -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DCMAKE_BUILD_TYPE=Release"
JOBS=2

VENV=".venv"
PY="$VENV/bin/python"
say() { printf '==> llama.cpp: %s\n' "$*"; }

if [ "${AIBACKEND_SKIP_LLAMA_CPP:-}" = "1" ]; then
    say "skipped (AIBACKEND_SKIP_LLAMA_CPP=1); the engine tests will skip"
    exit 0
fi
if [ ! -x "$PY" ]; then
    echo "error: $PY missing; run scripts/setup.sh (it creates the venv first)" >&2
    exit 1
fi
for tool in cmake c++ cc; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: '$tool' not found; the llama.cpp build needs it" >&2
        echo "  hint: apt-get install -y cmake g++" >&2
        exit 1
    fi
done

flags_key="$(printf '%s|%s|%s' "$WHEEL_CMAKE_ARGS" "$SERVER_CMAKE_ARGS" "$("$PY" -c 'import sys; print(sys.implementation.cache_tag)')" \
    | sha256sum | cut -c1-10)"
CACHE_ROOT="${AIBACKEND_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/aibackend}/llama-cpp"
SRC_DIR="$CACHE_ROOT/src"
CACHE="$CACHE_ROOT/$LLAMA_CPP_PYTHON_VERSION-$flags_key"
SDIST="$SRC_DIR/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
SERVER_BIN="$CACHE/bin/llama-server"
mkdir -p "$SRC_DIR" "$CACHE/wheels" "$CACHE/bin" "$CACHE/logs"

# Two set-ups at once (a developer's make test and an editor's) must not build twice or read a
# half-written wheel: one lock for the whole step.
exec 9>"$CACHE_ROOT/.lock"
flock 9

pip_q() { "$PY" -m pip -q --disable-pip-version-check "$@"; }

# --- 1. the source distribution (llama-cpp-python + vendor/llama.cpp) -----------------------
if [ ! -s "$SDIST" ]; then
    say "downloading llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sources"
    tmp="$(mktemp -d "$SRC_DIR/.dl.XXXXXX")"
    pip_q download --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -d "$tmp"
    mv "$tmp/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz" "$SDIST"
    rm -rf "$tmp"
fi

# --- 2. the Python wheel --------------------------------------------------------------------
wheel="$(ls "$CACHE"/wheels/llama_cpp_python-"$LLAMA_CPP_PYTHON_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
if [ -z "$wheel" ]; then
    say "building the llama-cpp-python wheel (first time on this machine: 5-30 min on 2 cores, more under load)"
    tmp="$(mktemp -d "$CACHE/wheels/.build.XXXXXX")"
    start=$SECONDS
    if ! CMAKE_ARGS="$WHEEL_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" \
        "$PY" -m pip wheel --disable-pip-version-check --no-deps -w "$tmp" "$SDIST" \
        >"$CACHE/logs/wheel.log" 2>&1; then
        echo "error: building the llama-cpp-python wheel failed; see $CACHE/logs/wheel.log" >&2
        tail -n 30 "$CACHE/logs/wheel.log" >&2
        rm -rf "$tmp"
        exit 1
    fi
    built="$(ls "$tmp"/llama_cpp_python-*.whl)"
    mv "$built" "$CACHE/wheels/"
    rm -rf "$tmp"
    wheel="$CACHE/wheels/$(basename "$built")"
    say "wheel built in $((SECONDS - start)) s: $wheel"
fi

installed="$("$PY" -c 'import importlib.metadata as m
try: print(m.version("llama_cpp_python"))
except m.PackageNotFoundError: print("")')"
if [ "$installed" != "$LLAMA_CPP_PYTHON_VERSION" ] || ! "$PY" -c 'import llama_cpp.server, starlette_context, gguf' 2>/dev/null; then
    say "installing llama-cpp-python[server] $LLAMA_CPP_PYTHON_VERSION and gguf $GGUF_VERSION into $VENV"
    # -c constraints.txt: the server extra (fastapi, uvicorn, pydantic-settings...) must not move
    # the versions the gateway was tested with.
    pip_q install -c constraints.txt "$wheel[server]" "gguf==$GGUF_VERSION" "${SERVER_EXTRA_PINS[@]}"
fi

# --- 3. the native llama-server -------------------------------------------------------------
if [ ! -x "$SERVER_BIN" ]; then
    say "building llama-server (first time on this machine: 5-30 min on 2 cores, more under load)"
    tmp="$(mktemp -d "$CACHE/.server-build.XXXXXX")"
    start=$SECONDS
    tar -xzf "$SDIST" -C "$tmp"
    src="$tmp/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
    # shellcheck disable=SC2086  # the flag list is meant to split
    if ! { cmake -S "$src" -B "$tmp/build" $SERVER_CMAKE_ARGS \
            && cmake --build "$tmp/build" --target llama-server -j "$JOBS"; } \
        >"$CACHE/logs/server.log" 2>&1; then
        echo "error: building llama-server failed; see $CACHE/logs/server.log" >&2
        tail -n 30 "$CACHE/logs/server.log" >&2
        rm -rf "$tmp"
        exit 1
    fi
    # Static build: one self-contained binary, so the cached copy needs no RPATH fix-up.
    cp "$tmp/build/bin/llama-server" "$CACHE/bin/.llama-server.new"
    mv "$CACHE/bin/.llama-server.new" "$SERVER_BIN"
    rm -rf "$tmp"
    say "llama-server built in $((SECONDS - start)) s: $SERVER_BIN"
fi

# The tests find the binary through the venv, so a fresh clone + set-up needs no extra config.
if [ "$(readlink "$VENV/bin/llama-server" 2>/dev/null || true)" != "$SERVER_BIN" ]; then
    ln -sfn "$SERVER_BIN" "$VENV/bin/llama-server"
fi
"$VENV/bin/llama-server" --version >/dev/null 2>&1 || {
    echo "error: $SERVER_BIN does not run; delete $CACHE and run set-up again" >&2
    exit 1
}
say "ready: llama-cpp-python $LLAMA_CPP_PYTHON_VERSION, $VENV/bin/llama-server -> $SERVER_BIN"
