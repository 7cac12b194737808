#!/usr/bin/env bash
# Navigation to /sandboxes until 200 rows are visible, in headless chromium, against a release
# `sbx serve` with 200 sandboxes. Run from the repository root: dashboard/bench/paint.sh
set -e
source scripts/setup.sh
setup_all >/dev/null 2>&1
DB_BASE="${SBX_DATABASE_URL%/*}"
db=sbx_paint
psql "$DB_BASE/postgres" -qc "drop database if exists $db" -c "create database $db" >/dev/null 2>&1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
work=$SBX_DATA/$db; rm -rf $work; mkdir -p $work
SBX_DATABASE_URL="$DB_BASE/$db" SBX_ADDR=127.0.0.1:$port SBX_DEV_KEY_FILE=$work/key SBX_DEV_LOGIN_FILE=$work/login \
  SBX_DASHBOARD_DIR=$SBX_ROOT/dashboard/dist RUST_BACKTRACE=0 target/release/sbx serve > $work/server.log 2>&1 &
pid=$!
trap "kill $pid" EXIT
for _ in $(seq 300); do curl -fsS http://127.0.0.1:$port/readyz >/dev/null 2>&1 && [ -s $work/login ] && break; sleep 0.2; done
key=$(cat $work/key); url=http://127.0.0.1:$port
id=$(curl -s $url/v1/sandboxes -H "Authorization: Bearer $key" -H 'content-type: application/json' -d '{"image":"code-interpreter"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
psql "$DB_BASE/$db" -qc "insert into sandboxes select (jsonb_populate_record(null::sandboxes, to_jsonb(s) || jsonb_build_object('sandbox_id', gen_random_uuid(), 'idempotency_key', null))).* from sandboxes s, generate_series(1,199) g" >/dev/null
node "$SBX_ROOT/dashboard/bench/paint.mjs" $url $(sed -n 1p $work/login) $(sed -n 2p $work/login)
