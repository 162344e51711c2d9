#!/usr/bin/env bash
# Creates .venv/ (git-ignored) and installs the Python peers pinned in benches/requirements.txt.
# Idempotent: does nothing when .venv already has them. Run from anywhere.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    echo "setup: python3-venv is missing; installing it (Debian)" >&2
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi
if [[ -x .venv/bin/python ]] && .venv/bin/python -c 'import geopandas, shapely, pyproj, pandas, numpy' 2>/dev/null; then
    exit 0
fi
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet --only-binary=:all: -r benches/requirements.txt
.venv/bin/python - <<'PY'
import geopandas, shapely, pyproj, pandas, numpy
print("setup: geopandas", geopandas.__version__, "shapely", shapely.__version__, "pyproj", pyproj.__version__,
      "pandas", pandas.__version__, "numpy", numpy.__version__)
PY
