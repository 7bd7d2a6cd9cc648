#!/bin/sh
# Builds authprobe and the benchmark harness, then runs the side-by-side
# benchmark; the Markdown results go to stdout, progress to stderr.
# Extra arguments go to the harness (see: go run ./bench/cmd/authprobe-bench -h).
set -eu
cd "$(dirname "$0")/.."
bin=$(mktemp -d "${TMPDIR:-/tmp}/authprobe-bench-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT
trap 'exit 130' INT TERM
go build -o "$bin/authprobe" ./cmd/authprobe
go build -o "$bin/authprobe-bench" ./bench/cmd/authprobe-bench
"$bin/authprobe-bench" -authprobe "$bin/authprobe" "$@"
