#!/usr/bin/env bash
# Latency of `POST /api/v1/reports` on PostGIS over TCP: serves the demo city from a fresh
# database hotspots_latency_bench and times 30 POSTs without and 30 with a reporter contact
# (one more table written) with curl, one at a time. While a single report was stored with COPY,
# every COPY waited ~40 ms for the server's delayed ACK (sqlx sets no TCP_NODELAY); batches of
# <= 64 reports now use one `insert … select from unnest(…)` (src/store/postgis/unnest.rs).
# Usage: bash benches/compare/post_latency.sh [BINARY]   (default target/release/hotspots)
# Env: BENCH_PG (default postgres://postgres@127.0.0.1:5432), BENCH_PORT (default 18090).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

main() {
bin="${1:-target/release/hotspots}"
pg="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
db=hotspots_latency_bench
port="${BENCH_PORT:-18090}"
unset DATABASE_URL HOTSPOTS_DB HOTSPOTS_PROFILE HOTSPOTS_BIND
psql "$pg/postgres" -qc "drop database if exists $db" -c "create database $db"
psql "$pg/$db" -qc 'create extension postgis'
mkdir -p target/compare
"$bin" --database-url "$pg/$db" demo --bind "127.0.0.1:$port" >target/compare/post_latency.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.5
done
echo "binary: $bin ($(git describe --always --dirty 2>/dev/null || echo '?') checked out); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for kind in plain contact; do
  extra=''
  [ "$kind" = contact ] && extra=',"reporter_contact":"0905000000"'
  for _ in $(seq 1 30); do
    curl -s -o /dev/null -w '%{time_total} %{http_code}\n' -H 'content-type: application/json' \
      -d "{\"category\":\"garbage\",\"lon\":107.59,\"lat\":16.46$extra}" \
      "http://127.0.0.1:$port/api/v1/reports"
  done | sort -n | awk -v k="$kind" '{a[NR]=$1; if ($2 != 201) bad++} END {printf "%s: n=%d median=%.1f ms p90=%.1f ms max=%.1f ms, not 201: %d\n", k, NR, a[int(NR/2)+1]*1000, a[int(NR*0.9)]*1000, a[NR]*1000, bad}'
done
}
main "$@"
