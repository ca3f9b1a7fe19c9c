#!/usr/bin/env bash
# run-all.sh - every benchmark, one after the other (`make bench`). About 8 minutes.
# docs/benchmarks.md explains the figures; nothing here is a test.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== CPU per round trip: herd against the floor client (bench/cpu_per_rtt.py)"
/usr/bin/python3 bench/cpu_per_rtt.py "$@"
echo
echo "== memory per idle connection (bench/idle_rss.sh)"
NO_BUILD=1 bench/idle_rss.sh
