#!/usr/bin/env bash
# End-to-end import of 1,000,000 Boston-layout rows with the real CLI (target/release/hotspots):
#   (a) into PostGIS (fresh database hotspots_import_bench), compared with psql \copy of the same
#       rows into the same table (ratio ours/\copy, target >= 0.5);
#   (b) into a fresh GeoPackage target/compare/import.gpkg (target >= 100,000 rows/s);
#   (c) `hotspots serve` on each store: "index ready in X s" and resident memory after start
#       (targets <= 3 s and <= 300 MB).
# Logs (RUST_LOG=hotspots=debug: per-batch store vs index times) go to target/compare/*.log.
# Usage: bash benches/compare/import.sh [--skip-postgis] [--skip-gpkg] [--serve-only]
#   --serve-only repeats only (c) on the stores a previous run left.
# Env: BENCH_PG (default postgres://postgres@127.0.0.1:5432), BENCH_PORT (default 18080).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

# Everything runs inside main, which bash reads whole before running: editing this file while
# it runs does not derail the run.
main() {

pg="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
db=hotspots_import_bench
url="$pg/$db"
port="${BENCH_PORT:-18080}"
out=target/compare
csv="$out/reports_1m.csv.gz"
bin=target/release/hotspots
export RUST_LOG="${RUST_LOG:-hotspots=debug}"
# The store is chosen by the arguments below only.
unset DATABASE_URL HOTSPOTS_DB HOTSPOTS_PROFILE HOTSPOTS_BIND
do_pg=1 do_gpkg=1 do_import=1
for a in "$@"; do
    case "$a" in
        --skip-postgis) do_pg=0 ;;
        --skip-gpkg) do_gpkg=0 ;;
        --serve-only) do_import=0 ;;
        *) echo "usage: $0 [--skip-postgis] [--skip-gpkg] [--serve-only]" >&2; exit 2 ;;
    esac
done

python3 benches/compare/make_data.py
cargo build --release --quiet --bin hotspots

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
rate() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):,.0f}')" "$1" "$2"; }
json_field() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# Sums the per-batch "batch written" debug lines and the start-up "index built" line of a log.
log_breakdown() {
    python3 - "$@" <<'PY'
import re, sys
units = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
def secs(text):
    m = re.fullmatch(r"([0-9.]+)(ns|µs|us|ms|s)", text)
    return float(m.group(1)) * units[m.group(2)] if m else 0.0
store = index = 0.0
batches = rows = 0
worst = (0.0, 0)
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    # Per-batch debug lines carry stored_in and/or indexed_in ("batch written", or "batch stored"
    # and "batch published" after the bulk-writer change); sum each wherever it appears.
    if "stored_in" in f:
        s = secs(f["stored_in"])
        store, batches, rows = store + s, batches + 1, rows + int(f.get("rows", 0))
        worst = max(worst, (s, batches))
    if "indexed_in" in f:
        index += secs(f["indexed_in"])
    if "index built" in line:
        f = dict(re.findall(r"(\w+)=(\S+)", line))
        print(f"    start-up index: read {f.get('read_in')} built {f.get('built_in')}")
if batches:
    print(f"    {batches} store batches, {rows:,} rows: store {store:.2f} s, index publishing {index:.2f} s; "
          f"slowest store batch #{worst[1]} {worst[0]:.2f} s; mean store batch {store / batches:.2f} s")
if len(sys.argv) == 4:
    wall, loop = float(sys.argv[2]), float(sys.argv[3])
    print(f"    before the import loop (connect, derive the profile by reading the whole file, open): "
          f"{wall - loop:.2f} s; in the loop but neither store nor index (waiting for the parser, "
          f"per-row work): {loop - store - index:.2f} s")
PY
}

# Starts `hotspots serve` with the given store arguments, waits for "index ready", reads RSS, stops it.
serve_check() {
    local label="$1"; shift
    local log="$out/serve_$label.log"
    : >"$log"
    local t0; t0=$(now)
    "$bin" "$@" serve --bind "127.0.0.1:$port" 2>"$log" >/dev/null &
    local pid=$!
    local line=""
    for _ in $(seq 1 600); do
        line=$(grep -a "index ready in" "$log" || true)
        [[ -n "$line" ]] && break
        if ! kill -0 "$pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    local t1; t1=$(now)
    if [[ -z "$line" ]]; then
        echo "  serve $label: no 'index ready' line; log:" >&2; cat "$log" >&2
        kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
        return 1
    fi
    sleep 1
    local rss_kb; rss_kb=$(ps -o rss= -p "$pid" | tr -d ' ')
    local ready; ready=$(curl -s --max-time 5 "http://127.0.0.1:$port/readyz" || echo "(no answer)")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    local index_s; index_s=$(sed -E 's/.*index ready in ([0-9.]+) s.*/\1/' <<<"$line" | head -1)
    local rss_mb=$((rss_kb / 1024))
    echo "  serve $label: index ready in $index_s s (target <= 3 s: $(awk -v x="$index_s" 'BEGIN{print (x <= 3) ? "met" : "NOT met"}')), RSS $rss_mb MB after start (target <= 300 MB: $([[ $rss_mb -le 300 ]] && echo met || echo "NOT met")), wall to ready $(elapsed "$t0" "$t1") s"
    echo "    readyz: $ready"
    log_breakdown "$log"
    printf '%s\n' "serve_${label}_index_s=$index_s" "serve_${label}_rss_mb=$rss_mb" >>"$out/import_figures.txt"
}

if [[ $do_import == 1 ]]; then : >"$out/import_figures.txt"; fi
echo "run=$(date -u +%FT%TZ) build=$(git describe --always --dirty 2>/dev/null || echo '?')" >>"$out/import_figures.txt"
echo "build: $(git describe --always --dirty 2>/dev/null || echo '?'); changed under src/: $(git status --short src 2>/dev/null | wc -l) files; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
rows_in=$(python3 -c "import gzip,sys; print(sum(1 for _ in gzip.open(sys.argv[1], 'rb')) - 1)" "$csv")
echo "import of $csv ($rows_in data rows) with $bin, RUST_LOG=$RUST_LOG"

if [[ $do_import == 1 && $do_pg == 1 ]]; then
    echo
    echo "(a) PostGIS: $url"
    psql "$pg/postgres" -X -q -v ON_ERROR_STOP=1 -c "drop database if exists $db" -c "create database $db"
    psql "$url" -X -q -v ON_ERROR_STOP=1 -c "create extension postgis"
    t0=$(now)
    DATABASE_URL="$url" "$bin" import reports "$csv" --mapping boston --city Boston --json \
        >"$out/import_postgis.json" 2>"$out/import_postgis.log"
    t1=$(now)
    ours_s=$(elapsed "$t0" "$t1")
    stored=$(json_field "$out/import_postgis.json" stored)
    inner_s=$(json_field "$out/import_postgis.json" seconds)
    ours_rate=$(python3 -c "print($stored / $ours_s)")
    echo "  hotspots import: stored $stored of $(json_field "$out/import_postgis.json" read) read" \
         "(rejected $(json_field "$out/import_postgis.json" rejected)) in $ours_s s wall" \
         "= $(rate "$stored" "$ours_s") rows/s (the import loop itself: $inner_s s)"
    log_breakdown "$out/import_postgis.log" "$ours_s" "$inner_s"

    table_csv="$root/$out/report_table.csv"
    psql "$url" -X -q -v ON_ERROR_STOP=1 -c "\\copy (select * from report) to '$table_csv' csv"
    psql "$url" -X -q -v ON_ERROR_STOP=1 -c "truncate report cascade" -c "checkpoint"
    t0=$(now)
    psql "$url" -X -q -v ON_ERROR_STOP=1 -c "\\copy report from '$table_csv' csv"
    t1=$(now)
    copy_s=$(elapsed "$t0" "$t1")
    copied=$(psql "$url" -X -At -c "select count(*) from report")
    copy_rate=$(python3 -c "print($copied / $copy_s)")
    ratio=$(python3 -c "print(f'{$ours_rate / $copy_rate:.2f}')")
    echo "  psql \\copy into the same table (all indexes in place): $copied rows in $copy_s s = $(rate "$copied" "$copy_s") rows/s"
    echo "  ratio ours/\\copy (rows/s): $ratio (target >= 0.5: $(python3 -c "print('met' if $ratio >= 0.5 else 'NOT met')"))"
    printf '%s\n' "postgis_import_s=$ours_s" "postgis_import_rows=$stored" "postgis_import_inner_s=$inner_s" \
        "copy_s=$copy_s" "copy_rows=$copied" "ratio_ours_copy=$ratio" >>"$out/import_figures.txt"
fi

if [[ $do_import == 1 && $do_gpkg == 1 ]]; then
    echo
    gpkg="$out/import.gpkg"
    echo "(b) GeoPackage: $gpkg"
    rm -f "$gpkg" "$gpkg"-*
    t0=$(now)
    "$bin" --db "$gpkg" import reports "$csv" --mapping boston --city Boston --json \
        >"$out/import_gpkg.json" 2>"$out/import_gpkg.log"
    t1=$(now)
    g_s=$(elapsed "$t0" "$t1")
    g_stored=$(json_field "$out/import_gpkg.json" stored)
    g_inner=$(json_field "$out/import_gpkg.json" seconds)
    g_rate=$(python3 -c "print($g_stored / $g_s)")
    echo "  hotspots import: stored $g_stored in $g_s s wall = $(rate "$g_stored" "$g_s") rows/s" \
         "(target >= 100,000: $(python3 -c "print('met' if $g_rate >= 100000 else 'NOT met')"); the import loop itself: $g_inner s)"
    log_breakdown "$out/import_gpkg.log" "$g_s" "$g_inner"
    echo "  file size: $(du -m "$gpkg" | cut -f1) MB"
    printf '%s\n' "gpkg_import_s=$g_s" "gpkg_import_rows=$g_stored" "gpkg_import_inner_s=$g_inner" >>"$out/import_figures.txt"
fi

echo
echo "(c) start-up of hotspots serve on each store (127.0.0.1:$port)"
if [[ $do_pg == 1 ]]; then DATABASE_URL="$url" serve_check postgis; fi
if [[ $do_gpkg == 1 ]]; then serve_check gpkg --db "$out/import.gpkg"; fi
echo
echo "figures: $out/import_figures.txt; logs: $out/import_*.log, $out/serve_*.log"
}

main "$@"
