#!/usr/bin/env bash
# Runs every command of the README's fenced `sh` blocks as written, so the README cannot drift
# from what works: each line is run by bash from the repository root and must exit 0. The test
# command itself (scripts/test.sh, which calls this) is skipped; the serve command is started in
# the background, the page fetched with curl until it answers, then stopped.
# Prints one line per command: exit code, seconds, the command. Exit 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

mapfile -t commands < <(awk '
  /^```(sh|bash|shell)[[:space:]]*$/ { inside = 1; next }
  /^```/ { inside = 0; next }
  inside && $0 !~ /^[[:space:]]*(#|$)/ { print }
' README.md)
[ "${#commands[@]}" -gt 0 ] || { echo "README.md has no sh commands"; exit 1; }

# Starts the serve command in its own process group, polls the page, stops the group.
serve_check() {
  local cmd=$1 log=target/readme-serve.log url="http://127.0.0.1:${PORT:-8080}/"
  mkdir -p target
  setsid bash -c "$cmd" >"$log" 2>&1 &
  local pid=$! ok=1
  for _ in $(seq 1 600); do
    if curl -fsS "$url" 2>/dev/null | grep -q "<html"; then ok=0; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 2
  done
  kill -- "-$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  [ "$ok" -eq 0 ] || { echo "---- $cmd: the page at $url never answered; its log:"; tail -20 "$log"; }
  return "$ok"
}

failed=0
report=()
for cmd in "${commands[@]}"; do
  case "$cmd" in
    scripts/test.sh*) report+=("skip    -  $cmd   (the test command itself)"); continue ;;
  esac
  echo "---- README: $cmd"
  start=$(date +%s)
  case "$cmd" in
    scripts/serve.sh*) serve_check "$cmd"; rc=$? ;;
    *) bash -c "$cmd"; rc=$? ;;
  esac
  report+=("$(printf 'exit %-3s %4ss  %s' "$rc" "$(($(date +%s) - start))" "$cmd")")
  [ "$rc" -eq 0 ] || failed=1
done
echo "---- the README's commands:"
printf '%s\n' "${report[@]}"
exit "$failed"
