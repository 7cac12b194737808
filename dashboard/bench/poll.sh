#!/usr/bin/env bash
# The Sandboxes list's poll with 200 sandboxes: server CPU per `GET /v1/sandboxes?limit=200`,
# per `GET /v1/usage?group_by=sandbox&from=<the oldest one's created_at>` (the 200 sandboxes'
# "Cost so far": the report the list asks for once for its ended sandboxes, and polls when all
# 200 are live) and for both, then the poll with one of the 200 live (the list, and the live
# ones' report from that one's creation). Release and debug builds, same data; each sandbox
# with its state history, which the usage report reads. Run from the repository root after
# `cargo build --release --bin sbx` and `cargo build --bin sbx`: dashboard/bench/poll.sh (a
# build that is missing is skipped).
set -e
source scripts/setup.sh
setup_all >/dev/null 2>&1
DB_BASE="${SBX_DATABASE_URL%/*}"
measure() {  # $1: binary, $2: database name
  [ -x "$1" ] || { echo "$1: missing, skipped"; return; }
  psql "$DB_BASE/postgres" -qc "drop database if exists $2" -c "create database $2" >/dev/null 2>&1
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  work=$SBX_DATA/$2; rm -rf $work; mkdir -p $work
  SBX_DATABASE_URL="$DB_BASE/$2" SBX_ADDR=127.0.0.1:$port SBX_DEV_KEY_FILE=$work/key SBX_DASHBOARD=off SBX_RATE_PER_SECOND=100000 SBX_RATE_BURST=100000 \
    RUST_BACKTRACE=0 "$1" serve > $work/server.log 2>&1 &
  pid=$!
  trap "kill $pid 2>/dev/null" EXIT
  for _ in $(seq 300); do curl -fsS http://127.0.0.1:$port/readyz >/dev/null 2>&1 && [ -s $work/key ] && break; sleep 0.2; done
  key=$(cat $work/key); url=http://127.0.0.1:$port
  id=$(curl -s $url/v1/sandboxes -H "Authorization: Bearer $key" -H 'content-type: application/json' -d '{"image":"code-interpreter"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  curl -s -X DELETE $url/v1/sandboxes/$id -H "Authorization: Bearer $key" >/dev/null
  psql "$DB_BASE/$2" -qc "insert into sandboxes select (jsonb_populate_record(null::sandboxes, to_jsonb(s) || jsonb_build_object('sandbox_id', overlay(s.sandbox_id::text placing lpad(to_hex(g), 12, '0') from 25 for 12)::uuid, 'idempotency_key', null))).* from sandboxes s, generate_series(1,199) g" >/dev/null
  # (The copies' ids share the first one's time, as UUIDv7s made then would: the list, newest
  # id first, puts a sandbox made later before them.) Each copy's state history: the first one's (pending, running, terminated), not the event
  # the insert's trigger recorded.
  psql "$DB_BASE/$2" -qc "delete from sandbox_events where sandbox_id <> '$id'" \
    -c "insert into sandbox_events select (jsonb_populate_record(null::sandbox_events, to_jsonb(e) || jsonb_build_object('sandbox_id', n.sandbox_id, 'event_id', nextval('sandbox_events_event_id_seq')))).* from sandbox_events e, sandboxes n where e.sandbox_id = '$id' and n.sandbox_id <> '$id' order by n.sandbox_id, e.event_id" >/dev/null
  python3 - "$url" "$key" "$pid" "$1" <<'PY'
import sys, time, http.client, statistics, os
url, key, pid, binary = sys.argv[1:5]
host = url.split("//")[1]
tick = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")",1)[1].split()
    return (int(f[11]) + int(f[12])) / tick
c = http.client.HTTPConnection(host)
def get(path):
    c.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    r = c.getresponse(); body = r.read(); assert r.status == 200, body[:200]
    return body
import json, urllib.parse
LIST = "/v1/sandboxes?limit=200"
page = json.loads(get(LIST)); assert len(page["data"]) == 200
oldest = min(page["data"], key=lambda s: s["created_at"])["created_at"]
COST = "/v1/usage?group_by=sandbox&from=" + urllib.parse.quote(oldest)
print(f"{binary}: the cost report has {len(json.loads(get(COST))['rows'])} rows")
N = 1000
def run(name, paths):
    for _ in range(20):
        for p in paths: get(p)
    c0 = cpu(); lat = []
    for _ in range(N):
        t = time.perf_counter()
        for p in paths: get(p)
        lat.append((time.perf_counter()-t)*1e3)
    c1 = cpu()
    print(f"{binary}: {N} × {name} (200 sandboxes): server CPU {(c1-c0)/N*1e3:.2f} ms/poll, latency p50 {statistics.median(lat):.2f} ms")
run("the list", [LIST])
run("the 200 sandboxes' cost so far", [COST])
run("the list and the 200 sandboxes' cost so far (the poll when all are live)", [LIST, COST])
# One live sandbox, the newest: the poll asks for the live ones' cost from its creation.
c.request("POST", "/v1/sandboxes", body=json.dumps({"image": "code-interpreter", "timeout_s": 600}),
          headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
r = c.getresponse(); live = json.loads(r.read()); assert r.status == 201, live
LIVE = "/v1/usage?group_by=sandbox&from=" + urllib.parse.quote(live["created_at"])
page = json.loads(get(LIST)); assert len(page["data"]) == 200 and page["data"][0]["id"] == live["id"]
run("the list and the live sandbox's cost so far (the poll with 1 of 200 live)", [LIST, LIVE])
PY
  kill $pid; wait $pid 2>/dev/null || true
}
measure target/release/sbx sbx_poll_release
measure target/debug/sbx sbx_poll_debug
