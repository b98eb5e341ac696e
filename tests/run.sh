#!/usr/bin/env bash
# The test command (README "Two commands", .ci/run): makes the test virtualenv, installs
# Chromium for the dashboard's browser test where it is missing, builds the Python package
# (python/) into the virtualenv, starts a MongoDB-wire-protocol server, runs
# `cargo test --all-features --no-fail-fast` and then the Python suite (pytest python/tests)
# against it, and stops the server again. Both suites always run; the exit status is non-zero
# if the package did not build or either suite failed.
#
#   tests/run.sh [extra cargo test arguments]     e.g. tests/run.sh --test mongo
#                                                 (with arguments, pytest is not run)
#   tests/run.sh bench [extra bench arguments]    the MongoStore benchmark (benches/mongo.rs)
#
# One virtualenv, target/test-venv, made on first use, holds every Python package the tests use:
# SecantusDB (PyPI `secantusdb`, a MongoDB-compatible server on WiredTiger), fluidml 0.3.4 (the
# reference implementation the fluidml-tree tests compare against), pytest and maturin. Tests
# find its interpreter in SWEEPSTORE_TEST_PYTHON. The server is started on a free loopback port
# with a fresh storage directory, and always stopped by its process id when this script
# exits (the trap waits until it has). The tests find it through two variables:
#   SWEEPSTORE_MONGO_URI     connection string of the running server
#   SWEEPSTORE_MONGO_DAEMON  the daemon executable, for tests that run a server of their own
# To test against a MongoDB of your own instead, set SWEEPSTORE_MONGO_URI yourself and run
# `cargo test --all-features` (the tests that start their own server also need
# SWEEPSTORE_MONGO_DAEMON).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/test-venv
daemon="$PWD/$venv/bin/secantusd-py"
stamp="$venv/.packages"
# Bump the list (and so the stamp) when the tests need another package.
packages="fluidml==0.3.4 pytest maturin numpy"
if [[ ! -x "$daemon" || "$(cat "$stamp" 2>/dev/null)" != "$packages" ]]; then
    echo "== installing the test packages into $venv: secantusdb $packages"
    python3 -m venv "$venv"
    # SecantusDB publishes pre-releases only; the others are pinned or stable.
    "$venv/bin/pip" install --quiet --disable-pip-version-check --pre secantusdb
    # shellcheck disable=SC2086 # a list of package specifiers
    "$venv/bin/pip" install --quiet --disable-pip-version-check $packages
    echo "$packages" > "$stamp"
fi
export SWEEPSTORE_TEST_PYTHON="$PWD/$venv/bin/python"

# The dashboard's browser test (tests/cli/ui.rs) drives Debian's headless Chromium; install it
# where it is missing (as root, or through sudo). Nothing else is downloaded for it.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    echo "== installing chromium (apt-get) for the dashboard's browser test"
    sudo=""
    if [[ "$(id -u)" != 0 ]]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p target
data=$(mktemp -d "$PWD/target/mongo-data.XXXXXX")
log="$data.log"
pid=""

stop_server() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        # Bounded wait for a clean exit, then SIGKILL.
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$data" "$log"
}
trap stop_server EXIT

echo "== starting SecantusDB on 127.0.0.1:$port (log: $log)"
"$daemon" --host 127.0.0.1 --port "$port" --storage-path "$data" >"$log" 2>&1 &
pid=$!

uri="mongodb://127.0.0.1:$port/?directConnection=true"
ready=""
for _ in $(seq 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
        break
    fi
    if "$venv/bin/python" - "$uri" <<'EOF' 2>/dev/null; then
import sys, pymongo
pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=500).admin.command("ping")
EOF
        ready=yes
        break
    fi
    sleep 0.1
done
if [[ -z "$ready" ]]; then
    echo "tests/run.sh: the SecantusDB server did not answer on 127.0.0.1:$port within 30 s; its log:" >&2
    cat "$log" >&2
    exit 1
fi

export SWEEPSTORE_MONGO_URI="$uri"
export SWEEPSTORE_MONGO_DAEMON="$daemon"
if [[ "${1:-}" == "bench" ]]; then
    shift
    echo "== cargo bench --features mongodb --bench mongo $*"
    cargo bench --features mongodb --bench mongo -- "$@"
else
    status=0
    # A debug build into the workspace's target/ (it shares the compiled dependencies of the
    # cargo tests), installed editable; `pip install ./python` makes the release build instead.
    echo "== maturin develop: the Python package (python/) into $venv, with MongoDB support"
    built=yes
    if ! VIRTUAL_ENV="$PWD/$venv" "$venv/bin/maturin" develop --quiet --features mongodb \
        -m python/Cargo.toml; then
        echo "tests/run.sh: building the Python package failed" >&2
        built=""
        status=1
    fi
    # --no-fail-fast: every test binary runs, so one failure does not hide others.
    echo "== cargo test --all-features --no-fail-fast $*"
    cargo test --all-features --no-fail-fast "$@" || status=1
    if [[ -n "$built" && $# -eq 0 ]]; then
        echo "== pytest python/tests"
        (cd python && "../$venv/bin/python" -m pytest -q -p no:cacheprovider tests) || status=1
    fi
    exit "$status"
fi
