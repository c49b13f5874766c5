#!/usr/bin/env bash
# What the fault proxies cost and how fast a fault bites, on release builds:
#  1. the latency one proxy adds (p50, p99) and the requests/s it carries on one core
#     (server/examples/proxy_load.rs; ROUND_TRIPS, CONNECTIONS, PROXY_SECONDS);
#  2. click-to-effect: a server started with --observe, `blastradius demo` running the
#     shop template through its proxies, and end2end/real-kill-latency.mjs clicking Kill on
#     catalog-db ROUNDS times (default 20) in headless Chromium, timing the first request
#     its proxy refuses.
# Stops by itself, and stops every process it started, by its own id.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-20}
port=${PORT:-8096}
cargo build --release -p server --bin blastradius --example proxy_load
./target/release/examples/proxy_load "${ROUND_TRIPS:-20000}" "${CONNECTIONS:-64}" "${PROXY_SECONDS:-5}"
data=$(mktemp -d)
./target/release/blastradius serve --observe --bind "127.0.0.1:$port" --dist dist --data-dir "$data" >/dev/null 2>&1 &
server=$!
demo=
trap 'test -n "$demo" && kill $demo 2>/dev/null && wait $demo 2>/dev/null; kill $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do
  curl -fs "http://127.0.0.1:$port/api/health" >/dev/null && break
  sleep 0.1
done
./target/release/blastradius template shop > "$data/shop.json"
./target/release/blastradius demo "$data/shop.json" --server "http://127.0.0.1:$port" >/dev/null 2>&1 &
demo=$!
sleep 5
node end2end/real-kill-latency.mjs "http://127.0.0.1:$port" "$rounds" catalog-db
