#!/usr/bin/env bash
# Regenerates docs/report.png: a real 30 s baseline run against the built-in API, its HTML report, and a
# headless-Chromium screenshot of the top of the page (run from the repository root; needs chromium).
set -euo pipefail
out=$(mktemp -d)
cargo run --release --quiet -- run scenarios/baseline.toml --demo -t 30s -q --html "$out/report.html"
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
  --user-data-dir="$out/profile" --hide-scrollbars --window-size=1280,2500 \
  --screenshot="$PWD/docs/report.png" "file://$out/report.html"
rm -rf "$out"
