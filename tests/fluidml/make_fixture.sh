#!/usr/bin/env bash
# Regenerates tests/fixtures/fluidml-0.3.4/ with the real fluidml 0.3.4 (Python), installed
# into a virtualenv in /tmp. Tests read the committed tree and do not need Python.
#
#   bash tests/fluidml/make_fixture.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${FLUIDML_VENV:-/tmp/fluidml-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet fluidml==0.3.4
"$venv/bin/python" "$here/make_fixture.py" "$root/tests/fixtures/fluidml-0.3.4"
