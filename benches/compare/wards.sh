#!/usr/bin/env bash
# Ward assignment of the same 1M points: Hotspots (release example) vs PostGIS vs geopandas.
# Prints times, ratios and whether the per-ward counts agree. See benches/compare/README.md.
# Needs PostgreSQL + PostGIS on $BENCH_PG (default postgres://postgres@127.0.0.1:5432); uses and
# keeps a scratch database hotspots_bench.  Usage: bash benches/compare/wards.sh [--runs N]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bash benches/compare/setup.sh
python3 benches/compare/make_data.py
cargo build --release --quiet --example assign_points
echo "build: $(git describe --always --dirty 2>/dev/null || echo '?'); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
exec .venv/bin/python benches/compare/wards.py "$@"
