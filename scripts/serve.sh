#!/usr/bin/env bash
# Serves the web playground on http://127.0.0.1:8080, installing what it needs first:
# the wasm32 target, trunk 0.21.14 and the wasm-bindgen-cli that matches Cargo.lock.
# Usage: scripts/serve.sh [--release] [extra trunk serve flags]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/web-tools.sh
ensure_web_tools
ensure_wasm_opt
exec trunk serve --release --offline --address 127.0.0.1 --port "${PORT:-8080}" "$@"
