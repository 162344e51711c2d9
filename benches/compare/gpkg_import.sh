#!/usr/bin/env bash
# Import of the same 1,000,000-row file into a fresh GeoPackage by GDAL's ogr2ogr and by
# Hotspots, interleaved (ogr2ogr, hotspots, ogr2ogr, hotspots, …) so that load on the machine
# hits both alike; then `hotspots serve` on the imported file (index ready, resident memory).
# Prints wall time and peak RSS of each run (/usr/bin/time -v) and the ratio of medians.
#
# Not equal work, and said so: ogr2ogr stores the 30 CSV columns as text fields plus the point
# and an R*Tree; Hotspots parses and validates the Boston mapping (times, categories, status),
# assigns wards (none here: no wards are loaded), stores its own columns, the source's extra
# columns as JSON and the R*Tree, and derives a city profile from the file first (a second read).
#
# Usage: bash benches/compare/gpkg_import.sh [--runs N] (default 2)
# Env: BENCH_PORT (default 18081).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

main() {
runs=2
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        *) echo "usage: $0 [--runs N]" >&2; exit 2 ;;
    esac
done
out=target/compare
csv="$out/reports_1m.csv.gz"
bin=target/release/hotspots
port="${BENCH_PORT:-18081}"
unset DATABASE_URL HOTSPOTS_DB HOTSPOTS_PROFILE HOTSPOTS_BIND
export RUST_LOG="${RUST_LOG:-hotspots=info}"

python3 benches/compare/make_data.py
cargo build --release --quiet --bin hotspots
echo "build: $(git describe --always --dirty 2>/dev/null || echo '?'); load average: $(cut -d' ' -f1-3 /proc/loadavg); $(ogr2ogr --version)"

# Runs a command under /usr/bin/time -v; prints "seconds max_rss_mb".
timed() {
    local log="$1"; shift
    /usr/bin/time -v "$@" >"$log.out" 2>"$log"
    python3 - "$log" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
parts = [float(p) for p in wall.split(":")]
secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024
print(f"{secs:.2f} {rss:.0f}")
PY
}

ogr_t=() hs_t=()
for run in $(seq 1 "$runs"); do
    rm -f "$out/ogr.gpkg"* 
    read -r s m < <(timed "$out/ogr2ogr_$run.log" ogr2ogr -f GPKG "$out/ogr.gpkg" "/vsigzip/$csv" \
        -oo X_POSSIBLE_NAMES=longitude -oo Y_POSSIBLE_NAMES=latitude -a_srs EPSG:4326)
    echo "run $run ogr2ogr:  $s s, peak RSS $m MB"
    ogr_t+=("$s")
    rm -f "$out/hs.gpkg" "$out/hs.gpkg"-* "$out/hs.private.sqlite"*
    read -r s m < <(timed "$out/hotspots_$run.log" "$bin" --db "$out/hs.gpkg" import reports "$csv" \
        --mapping boston --city Boston --json)
    echo "run $run hotspots: $s s, peak RSS $m MB (stored $(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['stored'])" "$out/hotspots_$run.log.out"))"
    hs_t+=("$s")
done
python3 - "${ogr_t[*]}" "${hs_t[*]}" <<'PY'
import statistics, sys
o = statistics.median(map(float, sys.argv[1].split()))
h = statistics.median(map(float, sys.argv[2].split()))
print(f"median: ogr2ogr {o:.2f} s, hotspots {h:.2f} s: hotspots is {o / h:.2f}x as fast (target >= 1, aim 2)")
PY
echo "file sizes: ogr2ogr $(du -m "$out/ogr.gpkg" | cut -f1) MB, hotspots $(du -m "$out/hs.gpkg" | cut -f1) MB"

# serve on the imported file: "index ready in X s" and RSS one second later.
log="$out/serve_hs_gpkg.log"
"$bin" --db "$out/hs.gpkg" serve --bind "127.0.0.1:$port" 2>"$log" >/dev/null &
pid=$!
for _ in $(seq 1 600); do
    grep -aq "index ready in" "$log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
sleep 1
rss=$(( $(ps -o rss= -p "$pid" | tr -d ' ') / 1024 ))
kill "$pid"; wait "$pid" 2>/dev/null || true
ready=$(grep -ao "index ready in [0-9.]* s" "$log" || echo "no ready line")
echo "serve on the imported file: $ready, RSS $rss MB after start (targets <= 3 s, <= 300 MB)"
}

main "$@"
