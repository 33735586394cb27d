#!/usr/bin/env bash
# Runs each libFuzzer target for SECONDS from seeds kept in tests/fuzz/seeds/<target>.
# usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR [SECONDS]}
seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
for target in normalize_fuzz verify_fuzz config_fuzz pipeline_fuzz mlmodel_fuzz table_fuzz; do
  corpus=$(mktemp -d)
  cp -r "$here/seeds/$target/." "$corpus/" 2>/dev/null || true
  echo "== $target for ${seconds}s"
  "$build/tests/fuzz/$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
    -print_final_stats=1 "$corpus" 2>&1 | grep -E 'stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Done' || true
  rm -rf "$corpus"
done
