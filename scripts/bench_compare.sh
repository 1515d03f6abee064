#!/bin/bash
# Back-to-back comparison on a shared machine (a dev tool): for each case, an older engine build (optional), this
# build and PyTorch run one after another, so the three see the same load. Appends JSON lines to
# before-TAG.jsonl, ours-TAG.jsonl, torch-TAG.jsonl in the current directory and logs the load to TAG.log; then
#   python3 scripts/perf_table.py ours-TAG.jsonl torch-TAG.jsonl before-TAG.jsonl
# Usage: scripts/bench_compare.sh TAG THREADS BEFORE_ENGINE_DLL|- CASE...
set -e
tag=$1; threads=$2; before=$3; shift 3
repo=$(cd "$(dirname "$0")/.." && pwd)
ours=$repo/Engine.Cli/bin/Release/net10.0/engine.dll
echo "start $(date -u +%T) $(uptime)" > "$tag.log"
for c in "$@"; do
  if [ "$before" != "-" ]; then dotnet "$before" bench --case "$c" --threads "$threads" --json --seconds 2 >> "before-$tag.jsonl"; fi
  dotnet "$ours" bench --case "$c" --threads "$threads" --json --seconds 2 >> "ours-$tag.jsonl"
  OPENBLAS_CORETYPE=COOPERLAKE /usr/bin/python3 "$repo/scripts/bench_pytorch.py" --threads "$threads" --case "$c" --seconds 2 >> "torch-$tag.jsonl"
  echo "$c $(date -u +%T) $(uptime | sed 's/.*load/load/')" >> "$tag.log"
done
echo "end $(date -u +%T) $(uptime)" >> "$tag.log"
