#!/usr/bin/env bash
# Regenerates docs/suite.png: the three shipped levels as a suite (10 s each, 50 users) against the built-in API,
# the stress level against a second API that answers 30 % of its requests with 500 so the report shows a failing
# level, and a headless-Chromium screenshot of the top of the combined page (run from the repository root; needs
# chromium). LOADGEN=path/to/loadgen uses that binary instead of a release build.
set -euo pipefail
lg=${LOADGEN:-}
if [ -z "$lg" ]; then
  cargo build --release --quiet
  lg=target/release/loadgen
fi
out=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$out"' EXIT
start_demo() { # $1: name, rest: serve-demo options; prints nothing, sets $url
  "$lg" serve-demo --addr 127.0.0.1:0 "${@:2}" > "$out/$1.log" 2>/dev/null &
  pids+=($!)
  for _ in $(seq 100); do grep -q http:// "$out/$1.log" 2>/dev/null && break; sleep 0.1; done
  url=$(grep -o 'http://[^ ]*' "$out/$1.log" | head -1)
}
start_demo good; good=$url
start_demo bad --error-rate 0.3; bad=$url
cp scenarios/auth_flow.toml "$out/"
sed "s#http://127.0.0.1:8000#$good#" scenarios/baseline.toml > "$out/baseline.toml"
sed "s#http://127.0.0.1:8000#$bad#" scenarios/stress.toml > "$out/stress.toml"
sed "s#http://127.0.0.1:8000#$good#" scenarios/ultimate.toml > "$out/ultimate.toml"
printf '[suite]\nscenarios = ["baseline.toml", "stress.toml", "ultimate.toml"]\n' > "$out/levels.toml"
"$lg" suite "$out/levels.toml" -t 10s -u 50 -q --html "$out/suite.html" || true
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
  --user-data-dir="$out/profile" --hide-scrollbars --window-size=1280,2000 \
  --screenshot="$PWD/docs/suite.png" "file://$out/suite.html"
