#!/bin/sh
# Builds authprobe and the benchmark harness, then runs the side-by-side
# benchmark, the overload and the soak; the Markdown results go to stdout,
# progress to stderr. Extra arguments go to the harness's side-by-side run
# (see: go run ./bench/cmd/authprobe-bench -h).
set -eu
cd "$(dirname "$0")/.."
bin=$(mktemp -d "${TMPDIR:-/tmp}/authprobe-bench-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT
trap 'exit 130' INT TERM
go build -o "$bin/authprobe" ./cmd/authprobe
go build -o "$bin/authprobe-bench" ./bench/cmd/authprobe-bench
"$bin/authprobe-bench" -authprobe "$bin/authprobe" "$@"

# Overload: 100,000 journeys every 30 s, more than two CPUs can run, and
# /metrics scraped back to back (about 4 minutes: start-up, 40 s warm-up,
# a 150 s window, the last scrape).
echo
"$bin/authprobe-bench" -authprobe "$bin/authprobe" -mode=overload

# Soak: 50 runs/s with every 20th request failing, sampled every 15 s.
# SOAK_DURATION (default 3m) and SOAK_WARMUP (1m) set its length;
# bench/README.md records a run with SOAK_DURATION=30m SOAK_WARMUP=5m.
echo
"$bin/authprobe-bench" -authprobe "$bin/authprobe" -mode=soak -soak-duration="${SOAK_DURATION:-3m}" -soak-warmup="${SOAK_WARMUP:-1m}"

# Token verification and the token journey's overhead against the real IdP
# (needs test/idp installed: npm ci --prefix test/idp).
echo
echo '### Token verification and token journey overhead (go test -bench)'
echo
echo '```'
go test -run '^$' -bench 'Verify' -benchtime 3s ./probes/jwtstep/ | grep -E '^Benchmark'
go test -run '^$' -bench 'TokenJourney' -benchtime 1000x ./bench/ | grep -E '^Benchmark'
echo '```'

# Browser login journeys: the demo's single-page app in Chromium, with the
# pool against a fresh browser per run, for /usr/bin/chromium and, when it
# is installed, /usr/lib/chromium/chromium-headless-shell (about 13 minutes: twelve
# 60 s windows, one after the other).
echo
if [ -x /usr/bin/chromium ]; then
	go build -o "$bin/browser-bench" ./bench/cmd/browser-bench
	"$bin/browser-bench"
else
	echo '### Browser journeys: skipped (no /usr/bin/chromium)'
fi
