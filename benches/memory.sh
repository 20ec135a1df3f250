#!/usr/bin/env bash
# Does loadgen's memory stay flat over a steady run?
#
# Runs loadgen (release build) at a steady load against `loadgen serve-demo` on 127.0.0.1 for a few minutes,
# samples loadgen's resident memory (VmRSS in /proc/PID/status) every few seconds, prints the samples, and says
# whether RSS stopped growing once warmed up. The load is the shared auth flow (scenarios/auth_flow.toml:
# register, log in and capture the token, verify / refresh / rate-limited operation / log out, sessions
# restarting after each logout), so captures, cookies and connection churn are all exercised.
#
#   benches/memory.sh                 # 180 s, 200 users, a sample every 5 s, warm-up 30 s
#   benches/memory.sh 60 100 2        # DURATION_S USERS INTERVAL_S
#   WARMUP_S=20 LOADGEN=target/release/loadgen benches/memory.sh 90
#
# LOADGEN names a binary to use instead of building one (`cargo build --release`, then copied so a rebuild
# during the run cannot change it). Linux only (/proc). Exit code: 0 flat after warm-up, 1 still growing,
# 2 setup error (build, server that does not start, loadgen failing).
#
# What "flat" means: after the warm-up, RSS grows by at most max(4 MiB, 5 % of its post-warm-up start). Some
# growth is expected and is not a leak: the time series adds a point a second (a few hundred bytes per request
# name) up to its cap of 3,600 points, and the reference server's answers and the allocator's arenas settle
# during the first minute.
set -euo pipefail

DURATION_S=${1:-180}
USERS=${2:-200}
INTERVAL_S=${3:-5}
WARMUP_S=${WARMUP_S:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "error: $*" >&2; exit 2; }
[ -r /proc/self/status ] || die "needs Linux (/proc/PID/status)"
[ "$DURATION_S" -gt "$WARMUP_S" ] || die "the duration ($DURATION_S s) must be longer than the warm-up ($WARMUP_S s)"

WORK=$(mktemp -d)
DEMO_PID=""
LG_PID=""
cleanup() {
    # Only the processes this script started, by their id.
    [ -n "$LG_PID" ] && kill "$LG_PID" 2>/dev/null || true
    [ -n "$DEMO_PID" ] && kill "$DEMO_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${LOADGEN:-}" ]; then
    BIN_SRC=$LOADGEN
else
    echo "building loadgen (cargo build --release)..." >&2
    (cd "$ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
    BIN_SRC=$ROOT/target/release/loadgen
fi
[ -x "$BIN_SRC" ] || die "no loadgen binary at $BIN_SRC"
BIN=$WORK/loadgen
cp "$BIN_SRC" "$BIN"

# The reference API on a free loopback port, in its own process (so loadgen's RSS is loadgen's alone).
"$BIN" serve-demo --addr 127.0.0.1:0 >"$WORK/demo.out" 2>"$WORK/demo.err" &
DEMO_PID=$!
URL=""
for _ in $(seq 100); do
    URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$WORK/demo.out" 2>/dev/null | head -n1 || true)
    [ -n "$URL" ] && break
    sleep 0.1
done
[ -n "$URL" ] || die "serve-demo did not start: $(cat "$WORK/demo.err")"

cat >"$WORK/memory.toml" <<EOF
name = "memory"
include = "$ROOT/scenarios/auth_flow.toml"

[target]
host = "$URL"
timeout = "10s"

[load]
users = $USERS
spawn_rate = $(( USERS > 100 ? USERS / 5 : 20 ))
duration = "${DURATION_S}s"
stop_timeout = "5s"

[[task]]
name = "rate_limited_operation"
weight = 2
method = "POST"
path = "/api/protected/operation"
headers = { Authorization = "Bearer {{token}}" }
json = { action = "test" }
expect = { status = [200, 429] }
EOF

echo "$("$BIN" --version 2>/dev/null | head -n1) at $USERS users for ${DURATION_S}s against $URL;" \
     "RSS every ${INTERVAL_S}s, warm-up ${WARMUP_S}s"
"$BIN" run "$WORK/memory.toml" -q --json "$WORK/out.json" >"$WORK/run.out" 2>"$WORK/run.err" &
LG_PID=$!
START=$(date +%s.%N)
DEADLINE=$(( $(date +%s) + DURATION_S + 60 ))

printf '%8s %10s %10s\n' "t_s" "rss_kib" "hwm_kib"
SAMPLES="$WORK/samples"
: >"$SAMPLES"
while kill -0 "$LG_PID" 2>/dev/null; do
    if [ "$(date +%s)" -gt "$DEADLINE" ]; then
        kill "$LG_PID" 2>/dev/null || true
        die "loadgen still running a minute past its duration: stopped"
    fi
    # VmRSS (resident now) and VmHWM (the peak so far) of the loadgen process.
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$LG_PID/status" 2>/dev/null || true)
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$LG_PID/status" 2>/dev/null || true)
    if [ -n "$rss" ]; then
        t=$(awk -v s="$START" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }')
        printf '%8s %10s %10s\n' "$t" "$rss" "$hwm"
        echo "$t $rss" >>"$SAMPLES"
    fi
    sleep "$INTERVAL_S"
done
set +e
wait "$LG_PID"
CODE=$?
LG_PID=""
set -e
# 0 pass, 1 gates (there are none here), 3 invalid run (loadgen could not keep the plan): all measured.
case $CODE in
    0|1|3) ;;
    *) die "loadgen exited with $CODE: $(tail -n 5 "$WORK/run.err")" ;;
esac

if command -v python3 >/dev/null; then
    python3 - "$WORK/out.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
t, g = r["totals"], r["generator"]
print(f"run: {t['requests']:,} requests, {t['failures']:,} failures, {t['rps']:.0f} req/s, "
      f"{len(r['time_series'])} series points, cpu mean {g['cpu_pct_mean']}%, "
      f"valid {r['validity']['valid']}")
EOF
fi

awk -v warm="$WARMUP_S" '
    $1 >= warm { n++; if (n == 1) { t0 = $1; first = $2 } last = $2; tl = $1; if ($2 > max) max = $2
                 sx += $1; sy += $2; sxx += $1 * $1; sxy += $1 * $2 }
    END {
        if (n < 3) { print "too few samples after the warm-up to judge"; exit 2 }
        slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)          # KiB per second, least squares
        allowed = first * 0.05; if (allowed < 4096) allowed = 4096
        growth = last - first
        printf "after warm-up (%d samples, %.0f s to %.0f s): RSS %d -> %d KiB (max %d), growth %+d KiB, " \
               "trend %+.1f KiB/min; allowed %d KiB\n", n, t0, tl, first, last, max, growth, slope * 60, allowed
        if (max - first <= allowed) { print "verdict: RSS stopped growing after the warm-up"; exit 0 }
        print "verdict: RSS still growing after the warm-up"; exit 1
    }' "$SAMPLES"
