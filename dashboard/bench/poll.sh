#!/usr/bin/env bash
# The Sandboxes list's poll with 200 sandboxes: server CPU per `GET /v1/sandboxes?limit=200`
# (release and debug builds, same data). Run from the repository root after
# `cargo build --release --bin sbx` and `cargo build --bin sbx`: dashboard/bench/poll.sh
set -e
source scripts/setup.sh
setup_all >/dev/null 2>&1
DB_BASE="${SBX_DATABASE_URL%/*}"
measure() {  # $1: binary, $2: database name
  psql "$DB_BASE/postgres" -qc "drop database if exists $2" -c "create database $2" >/dev/null 2>&1
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  work=$SBX_DATA/$2; rm -rf $work; mkdir -p $work
  SBX_DATABASE_URL="$DB_BASE/$2" SBX_ADDR=127.0.0.1:$port SBX_DEV_KEY_FILE=$work/key SBX_DASHBOARD=off SBX_RATE_PER_SECOND=100000 SBX_RATE_BURST=100000 \
    RUST_BACKTRACE=0 "$1" serve > $work/server.log 2>&1 &
  pid=$!
  for _ in $(seq 300); do curl -fsS http://127.0.0.1:$port/readyz >/dev/null 2>&1 && [ -s $work/key ] && break; sleep 0.2; done
  key=$(cat $work/key); url=http://127.0.0.1:$port
  id=$(curl -s $url/v1/sandboxes -H "Authorization: Bearer $key" -H 'content-type: application/json' -d '{"image":"code-interpreter"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  curl -s -X DELETE $url/v1/sandboxes/$id -H "Authorization: Bearer $key" >/dev/null
  psql "$DB_BASE/$2" -qc "insert into sandboxes select (jsonb_populate_record(null::sandboxes, to_jsonb(s) || jsonb_build_object('sandbox_id', gen_random_uuid(), 'idempotency_key', null))).* from sandboxes s, generate_series(1,199) g" >/dev/null
  python3 - "$url" "$key" "$pid" "$1" <<'PY'
import sys, time, http.client, statistics, os
url, key, pid, binary = sys.argv[1:5]
host = url.split("//")[1]
tick = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")",1)[1].split()
    return (int(f[11]) + int(f[12])) / tick
c = http.client.HTTPConnection(host)
def poll():
    c.request("GET", "/v1/sandboxes?limit=200", headers={"Authorization": f"Bearer {key}"})
    r = c.getresponse(); body = r.read(); assert r.status == 200, body[:200]
    return body
for _ in range(20): b = poll()
import json; assert len(json.loads(b)["data"]) == 200
N = 1000
c0 = cpu(); lat = []
for _ in range(N):
    t = time.perf_counter(); poll(); lat.append((time.perf_counter()-t)*1e3)
c1 = cpu()
print(f"{binary}: {N} polls of 200 sandboxes ({len(b)} bytes each): server CPU {(c1-c0)/N*1e3:.2f} ms/poll, latency p50 {statistics.median(lat):.2f} ms")
PY
  kill $pid; wait $pid 2>/dev/null || true
}
measure target/release/sbx sbx_poll_release
measure target/debug/sbx sbx_poll_debug
