# Installs the web toolchain when missing (sourced by serve.sh and test.sh).
BINARYEN_VERSION=132.0.0
# trunk is pinned to 0.21.14 (0.22 needs a newer rustc); wasm-bindgen-cli must match the
# wasm-bindgen in Cargo.lock, and is installed without --locked as its own lock pins other versions.
ensure_web_tools() {
  export PATH="$HOME/.cargo/bin:$PATH"
  rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown \
    || rustup target add wasm32-unknown-unknown
  if ! trunk --version 2>/dev/null | grep -q "0.21.14"; then
    cargo install trunk --version 0.21.14 --locked
  fi
  local want
  want=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/"/, "", $3); print $3; exit}' Cargo.lock)
  if [ -n "$want" ] && ! wasm-bindgen --version 2>/dev/null | grep -q "$want"; then
    cargo install wasm-bindgen-cli --version "$want"
  fi
}

# wasm-opt from npm's binaryen (Debian's is too old for current wasm features), in .tools/.
ensure_wasm_opt() {
  local bin="$PWD/.tools/node_modules/.bin"
  if ! [ -x "$bin/wasm-opt" ]; then
    npm install --prefix .tools --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION"
  fi
  export PATH="$bin:$PATH"
}

# Headless Chromium (Debian package) for the browser tests.
ensure_chromium() {
  if ! [ -x /usr/bin/chromium ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  fi
}
