#!/usr/bin/env bash
# Runs the benchmark suite and prints a summary of the goals, then one
# table (see README.md).
#   bench/run.sh                      everything, 512 MiB transfers
#   FTPGATE_BENCH_SIZE=64MiB bench/run.sh
#   bench/run.sh -short               small sizes, as a smoke test
#   BENCH='RETR|STOR' bench/run.sh    a subset (a go test -bench regexp)
# The raw go test output is kept in $OUT (default: a temp file, printed).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$(mktemp "${TMPDIR:-/tmp}/ftpgate-bench.XXXXXX")}
go test -run '^$' -bench "${BENCH:-.}" -benchtime "${BENCHTIME:-1s}" -count 1 -timeout 60m "$@" ./bench/ | tee "$out"
echo
# The summary (one line per goal: figure, goal, verdict), then every row.
go run ./bench/cmd/benchtable <"$out"
echo "(raw output: $out)"
