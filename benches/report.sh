#!/usr/bin/env bash
# The one command for the comparison report (issue 8):
#
#   bash benches/report.sh [flags of the compare bench, e.g. --quick or --sizes 1000,10000,1000000]
#
# 1. makes a virtualenv under target/ with fluidml 0.3.4 (`pip install fluidml==0.3.4`);
# 2. builds the benches in release;
# 3. runs the engine bench (issue 3's targets; extra flags in $ENGINE_ARGS);
# 4. runs the comparison bench (W0–W5 against raw redb, SQLite, fluidml, the disk; W0 is the
#    smallest sweep record, one ~1 KiB metrics per new run, with issue 21's targets), which
#    writes target/report/README.md and its SVG plots;
# 5. copies them to docs/report/, the committed copy the README links to.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

venv="target/fluidml-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check fluidml==0.3.4
"$venv/bin/python" -c 'import fluidml; assert fluidml.__version__ == "0.3.4", fluidml.__version__'

out="target/report"
rm -rf "$out"
mkdir -p "$out"
cargo build --release --benches

echo "== engine bench (issue 3 targets)" >&2
# shellcheck disable=SC2086 # ENGINE_ARGS is a list of flags
cargo bench --bench engine -- ${ENGINE_ARGS:-} > /dev/null

echo "== comparison bench" >&2
cargo bench --bench compare -- --python "$venv/bin/python" --out "$out" \
    --engine-report target/bench-engine.md "$@" > /dev/null

mkdir -p docs/report
rm -f docs/report/*.svg docs/report/README.md
cp "$out"/README.md "$out"/*.svg docs/report/
echo "report: $out/README.md (copied to docs/report/)" >&2
