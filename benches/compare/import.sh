#!/usr/bin/env bash
# End-to-end import of 1,000,000 Boston-layout rows with the real CLI (target/release/hotspots):
#   (a) PostGIS, N rounds interleaved (default 2): hotspots import into a fresh database
#       hotspots_import_bench; psql \copy of the same rows into the same table (ratio ours/\copy,
#       target >= 0.5); psql \copy of narrow rows (id, point, category, time) into a table with
#       only a GiST index (the machine's limit);
#   (b) one import into a fresh GeoPackage target/compare/import.gpkg, the store for (c) (the
#       interleaved comparison with ogr2ogr is gpkg_import.sh);
#   (c) `hotspots serve` on each store: seconds from launch to /readyz answering 200, and peak
#       resident memory (VmHWM) (targets <= 3 s and <= 300 MB).
# Logs (RUST_LOG=hotspots=debug: per-batch store times) go to target/compare/*.log.
# Usage: bash benches/compare/import.sh [--rounds N] [--skip-postgis] [--skip-gpkg] [--serve-only]
#   --serve-only repeats only (c) on the stores a previous run left.
# Env: BENCH_PG (default postgres://postgres@127.0.0.1:5432), BENCH_PORT (default 18080),
#   BENCH_BIN (default target/release/hotspots, e.g. an older build for (c) with --serve-only).
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
bin="${BENCH_BIN:-target/release/hotspots}"
export RUST_LOG="${RUST_LOG:-hotspots=debug}"
# The store is chosen by the arguments below only.
unset DATABASE_URL HOTSPOTS_DB HOTSPOTS_PROFILE HOTSPOTS_BIND
do_pg=1 do_gpkg=1 do_import=1 rounds=2
while [[ $# -gt 0 ]]; do
    a="$1"; shift
    case "$a" in
        --rounds) rounds="$1"; shift ;;
        --skip-postgis) do_pg=0 ;;
        --skip-gpkg) do_gpkg=0 ;;
        --serve-only) do_import=0 ;;
        *) echo "usage: $0 [--rounds N] [--skip-postgis] [--skip-gpkg] [--serve-only]" >&2; exit 2 ;;
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

# Starts `hotspots serve` with the given store arguments, polls /readyz from the moment it is
# launched until it answers 200 (the time to ready), reads the peak resident memory (VmHWM) one
# second later, and stops it.
serve_check() {
    local label="$1"; shift
    local log="$out/serve_$label.log"
    if curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$port/"; then
        echo "  serve $label: something already answers on port $port (set BENCH_PORT)" >&2; return 1
    fi
    local load; load=$(cut -d' ' -f1 /proc/loadavg)
    local t0; t0=$(now)
    "$bin" "$@" serve --bind "127.0.0.1:$port" 2>"$log" >/dev/null &
    local pid=$! ready=""
    for _ in $(seq 1 1200); do
        ready=$(curl -sf --max-time 5 "http://127.0.0.1:$port/readyz" || true)
        [[ -n "$ready" ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    local t1; t1=$(now)
    # CPU seconds (user + system, all threads) spent until ready: what the load cannot inflate.
    local cpu_s; cpu_s=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$pid/stat" 2>/dev/null || echo '?')
    if [[ -z "$ready" ]]; then
        echo "  serve $label: /readyz never answered; log:" >&2; cat "$log" >&2
        kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
        return 1
    fi
    sleep 1
    local hwm_kb rss_kb
    hwm_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
    rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    local ready_s; ready_s=$(elapsed "$t0" "$t1")
    local peak_mb=$((hwm_kb / 1024))
    echo "  serve $label: /readyz 200 after $ready_s s from launch (target <= 3 s: $(awk -v x="$ready_s" 'BEGIN{print (x <= 3) ? "met" : "NOT met"}'); $cpu_s CPU-s)," \
         "peak RSS $peak_mb MB (target <= 300 MB: $([[ $peak_mb -le 300 ]] && echo met || echo "NOT met")), RSS $((rss_kb / 1024)) MB 1 s later; load $load"
    echo "    $(grep -a -o 'serving .* index ready in [0-9.]* s' "$log" | head -1)"
    echo "    readyz: $ready"
    printf '%s\n' "serve_${label}_ready_s=$ready_s" "serve_${label}_cpu_s=$cpu_s" "serve_${label}_peak_rss_mb=$peak_mb" >>"$out/import_figures.txt"
}

if [[ $do_import == 1 ]]; then : >"$out/import_figures.txt"; fi
echo "run=$(date -u +%FT%TZ) build=$(git describe --always --dirty 2>/dev/null || echo '?')" >>"$out/import_figures.txt"
echo "build: $(git describe --always --dirty 2>/dev/null || echo '?'); changed under src/: $(git status --short src 2>/dev/null | wc -l) files; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
rows_in=$(python3 -c "import gzip,sys; print(sum(1 for _ in gzip.open(sys.argv[1], 'rb')) - 1)" "$csv")
echo "import of $csv ($rows_in data rows) with $bin, RUST_LOG=$RUST_LOG"

# One PostGIS round, run interleaved with the others: (A) hotspots import into a fresh database,
# (B) psql \copy of the same rows into the same table (truncated, all indexes and triggers in
# place), (C) psql \copy of narrow rows (id, point, category, time) into a table with only a GiST
# index: the machine's limit for loading points. B and C read CSVs exported after the first A.
pg_round() {
    local r="$1"
    psql "$pg/postgres" -X -q -v ON_ERROR_STOP=1 -c "drop database if exists $db" -c "create database $db"
    psql "$url" -X -q -v ON_ERROR_STOP=1 -c "create extension postgis" -c "checkpoint"
    local load; load=$(cut -d' ' -f1 /proc/loadavg)
    local t0 t1; t0=$(now)
    DATABASE_URL="$url" "$bin" import reports "$csv" --mapping boston --city Boston --json \
        >"$out/import_postgis.json" 2>"$out/import_postgis.log"
    t1=$(now)
    local ours_s stored inner_s
    ours_s=$(elapsed "$t0" "$t1")
    stored=$(json_field "$out/import_postgis.json" stored)
    inner_s=$(json_field "$out/import_postgis.json" seconds)
    echo "  round $r (A) hotspots import: stored $stored of $(json_field "$out/import_postgis.json" read) read" \
         "(rejected $(json_field "$out/import_postgis.json" rejected)) in $ours_s s wall" \
         "= $(rate "$stored" "$ours_s") rows/s (import loop $inner_s s; load at start $load)"
    log_breakdown "$out/import_postgis.log" "$ours_s" "$inner_s"
    if [[ $r == 1 ]]; then
        psql "$url" -X -q -v ON_ERROR_STOP=1 -c "\\copy (select * from report) to '$table_csv' csv" \
            -c "\\copy (select id, geom, category, created_at from report) to '$narrow_csv' csv"
    fi
    psql "$url" -X -q -v ON_ERROR_STOP=1 -c "truncate report cascade" -c "checkpoint"
    load=$(cut -d' ' -f1 /proc/loadavg)
    t0=$(now)
    psql "$url" -X -q -v ON_ERROR_STOP=1 -c "\\copy report from '$table_csv' csv"
    t1=$(now)
    local copy_s copied; copy_s=$(elapsed "$t0" "$t1")
    copied=$(psql "$url" -X -At -c "select count(*) from report")
    echo "  round $r (B) psql \\copy into the same table: $copied rows in $copy_s s = $(rate "$copied" "$copy_s") rows/s (load $load)"
    psql "$url" -X -q -v ON_ERROR_STOP=1 -c "drop table if exists narrow" \
        -c "create table narrow (id bigint, geom geometry(Point, 4326), category text, created_at timestamptz)" \
        -c "create index narrow_geom on narrow using gist (geom)" -c "checkpoint"
    load=$(cut -d' ' -f1 /proc/loadavg)
    t0=$(now)
    psql "$url" -X -q -v ON_ERROR_STOP=1 -c "\\copy narrow from '$narrow_csv' csv"
    t1=$(now)
    local narrow_s; narrow_s=$(elapsed "$t0" "$t1")
    psql "$url" -X -q -v ON_ERROR_STOP=1 -c "drop table narrow"
    echo "  round $r (C) psql \\copy of narrow rows, GiST only: $copied rows in $narrow_s s = $(rate "$copied" "$narrow_s") rows/s (load $load)"
    local ours_rate copy_rate narrow_rate
    ours_rate=$(python3 -c "print($stored / $ours_s)")
    copy_rate=$(python3 -c "print($copied / $copy_s)")
    narrow_rate=$(python3 -c "print($copied / $narrow_s)")
    echo "  round $r: ours/\\copy $(python3 -c "print(f'{$ours_rate / $copy_rate:.2f}')")," \
         "ours/narrow \\copy $(python3 -c "print(f'{$ours_rate / $narrow_rate:.2f}')")"
    printf '%s\n' "round${r}_postgis_import_s=$ours_s" "round${r}_postgis_import_rows=$stored" \
        "round${r}_copy_s=$copy_s" "round${r}_narrow_copy_s=$narrow_s" "round${r}_copy_rows=$copied" >>"$out/import_figures.txt"
    echo "$ours_rate $copy_rate $narrow_rate" >>"$out/pg_rates.txt"
}

if [[ $do_import == 1 && $do_pg == 1 ]]; then
    echo
    echo "(a) PostGIS: $url, $rounds rounds interleaved (A B C, A B C, …)"
    table_csv="$root/$out/report_table.csv"
    narrow_csv="$root/$out/narrow_table.csv"
    : >"$out/pg_rates.txt"
    for r in $(seq 1 "$rounds"); do pg_round "$r"; done
    rm -f "$table_csv" "$narrow_csv" # about 1 GB
    python3 - "$out/pg_rates.txt" <<'PY' | tee -a "$out/import_figures.txt"
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
ours, copy, narrow = (statistics.median(c) for c in zip(*rows))
print(f"median rows/s: hotspots import {ours:,.0f}, \\copy same table {copy:,.0f}, narrow \\copy GiST only {narrow:,.0f}")
print(f"ratio ours/\\copy (medians) {ours / copy:.2f} (target >= 0.5: {'met' if ours / copy >= 0.5 else 'NOT met'}); "
      f"ours/narrow \\copy {ours / narrow:.2f}; per round: " + ", ".join(f"{o / c:.2f}" for o, c, _ in rows))
PY
    # (c) serves what the last round left: the \copy'd rows, identical to those the import stored.
fi

if [[ $do_import == 1 && $do_gpkg == 1 ]]; then
    echo
    gpkg="$out/import.gpkg"
    echo "(b) GeoPackage: $gpkg (one run, to have a store for (c); gpkg_import.sh compares it with ogr2ogr)"
    rm -f "$gpkg" "$gpkg"-*
    t0=$(now)
    "$bin" --db "$gpkg" import reports "$csv" --mapping boston --city Boston --json \
        >"$out/import_gpkg.json" 2>"$out/import_gpkg.log"
    t1=$(now)
    g_s=$(elapsed "$t0" "$t1")
    g_stored=$(json_field "$out/import_gpkg.json" stored)
    g_inner=$(json_field "$out/import_gpkg.json" seconds)
    echo "  hotspots import: stored $g_stored in $g_s s wall = $(rate "$g_stored" "$g_s") rows/s" \
         "(the import loop itself: $g_inner s)"
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
