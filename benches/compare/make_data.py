#!/usr/bin/env python3
"""Makes the inputs of the side-by-side benchmarks under target/compare/ (git-ignored).

* reports_1m.csv.gz -- 1,000,000 rows in the Boston 311 layout (30 columns), made by replicating
  the real file ../shared/data/boston-311-animal-2013-2023/boston_311_animal_2013-2023.csv.gz
  (62,165 rows) about 16 times. Copy 0 is the real file unchanged; copy k >= 1 appends "-k" to
  case_enquiry_id (so every row has its own external id) and moves each located row by a few
  metres (uniform, at most JITTER_M on each axis). latitude/longitude and geom_4326 (hex EWKB,
  SRID 4326) are rewritten together, so whichever column the boston preset reads (it reads
  latitude/longitude first, then geom_4326) gives the same point. Rows without coordinates stay
  without.
* points_1m.csv -- 1,000,000 seeded uniform random points (id,lon,lat) in the bounding box of the
  Chicago ward polygons ../shared/data/chicago-311-potholes-2018/chicago_wards_2015-2023.geojson.gz.

Standard library only. Existing outputs are kept unless --force is given.
Usage: python3 benches/compare/make_data.py [--force] [--rows N] [--points N]
"""

import argparse
import csv
import gzip
import json
import math
import os
import random
import struct
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.path.join(ROOT, "..", "shared", "data")
BOSTON = os.path.join(SHARED, "boston-311-animal-2013-2023", "boston_311_animal_2013-2023.csv.gz")
CHICAGO_WARDS = os.path.join(SHARED, "chicago-311-potholes-2018", "chicago_wards_2015-2023.geojson.gz")
OUT = os.path.join(ROOT, "target", "compare")

JITTER_M = 5.0
SEED = 20240517


def hex_ewkb_point(lon, lat):
    """Hex EWKB of POINT(lon lat) with SRID 4326, little-endian, upper case (as Boston writes it)."""
    return (struct.pack("<BII", 1, 0x20000001, 4326) + struct.pack("<dd", lon, lat)).hex().upper()


def parse_hex_ewkb_point(text):
    raw = bytes.fromhex(text)
    if raw[0] != 1:
        raise ValueError("expected little-endian EWKB")
    kind, = struct.unpack_from("<I", raw, 1)
    offset = 9 if kind & 0x20000000 else 5
    return struct.unpack_from("<dd", raw, offset)


def make_reports(path, rows_wanted):
    rng = random.Random(SEED)
    with gzip.open(BOSTON, "rt", newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        source = list(reader)
    col = {name: i for i, name in enumerate(header)}
    i_id, i_lat, i_lon, i_geom = (col[c] for c in ("case_enquiry_id", "latitude", "longitude", "geom_4326"))
    tmp = path + ".part"
    written = located = 0
    with gzip.open(tmp, "wt", newline="", encoding="utf-8", compresslevel=1) as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(header)
        copy = 0
        while written < rows_wanted:
            for row in source:
                if written == rows_wanted:
                    break
                if copy > 0:
                    row = list(row)
                    row[i_id] = f"{row[i_id]}-{copy}"
                    lat_text, lon_text, geom_text = row[i_lat].strip(), row[i_lon].strip(), row[i_geom].strip()
                    point = None
                    if lat_text and lon_text:
                        point = (float(lon_text), float(lat_text))
                    elif geom_text:
                        point = parse_hex_ewkb_point(geom_text)
                    if point is not None:
                        lon, lat = point
                        dlat = rng.uniform(-JITTER_M, JITTER_M) / 111_320.0
                        dlon = rng.uniform(-JITTER_M, JITTER_M) / (111_320.0 * math.cos(math.radians(lat)))
                        lon, lat = lon + dlon, lat + dlat
                        if lat_text and lon_text:
                            row[i_lat], row[i_lon] = repr(lat), repr(lon)
                        row[i_geom] = hex_ewkb_point(lon, lat) if geom_text else ""
                if row[i_lat].strip() or row[i_geom].strip():
                    located += 1
                w.writerow(row)
                written += 1
            copy += 1
    os.replace(tmp, path)
    return written, located, copy


def chicago_bbox():
    with gzip.open(CHICAGO_WARDS, "rt", encoding="utf-8") as f:
        collection = json.load(f)
    x0 = y0 = math.inf
    x1 = y1 = -math.inf

    def walk(c):
        nonlocal x0, y0, x1, y1
        if isinstance(c[0], (int, float)):
            x0, y0, x1, y1 = min(x0, c[0]), min(y0, c[1]), max(x1, c[0]), max(y1, c[1])
        else:
            for part in c:
                walk(part)

    for feature in collection["features"]:
        walk(feature["geometry"]["coordinates"])
    return x0, y0, x1, y1


def make_points(path, n):
    x0, y0, x1, y1 = chicago_bbox()
    rng = random.Random(SEED)
    tmp = path + ".part"
    with open(tmp, "w", newline="", encoding="utf-8") as out:
        out.write("id,lon,lat\n")
        lines = []
        for i in range(n):
            lines.append(f"{i},{rng.uniform(x0, x1):.7f},{rng.uniform(y0, y1):.7f}\n")
            if len(lines) == 100_000:
                out.writelines(lines)
                lines.clear()
        out.writelines(lines)
    os.replace(tmp, path)
    return (x0, y0, x1, y1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--force", action="store_true", help="rebuild files that exist")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--points", type=int, default=1_000_000)
    args = p.parse_args()
    os.makedirs(OUT, exist_ok=True)
    for needed in (BOSTON, CHICAGO_WARDS):
        if not os.path.exists(needed):
            sys.exit(f"make_data: missing {needed} (the shared data folder beside the repo)")

    reports = os.path.join(OUT, "reports_1m.csv.gz")
    if args.force or not os.path.exists(reports):
        t = time.monotonic()
        written, located, copies = make_reports(reports, args.rows)
        print(f"make_data: {reports}: {written:,} rows ({located:,} with coordinates) from {copies} copies "
              f"in {time.monotonic() - t:.1f} s")
    else:
        print(f"make_data: {reports} exists (use --force to rebuild)")

    points = os.path.join(OUT, "points_1m.csv")
    if args.force or not os.path.exists(points):
        t = time.monotonic()
        bbox = make_points(points, args.points)
        print(f"make_data: {points}: {args.points:,} points in bbox "
              f"{bbox[0]:.5f},{bbox[1]:.5f},{bbox[2]:.5f},{bbox[3]:.5f} in {time.monotonic() - t:.1f} s")
    else:
        print(f"make_data: {points} exists (use --force to rebuild)")


if __name__ == "__main__":
    main()
