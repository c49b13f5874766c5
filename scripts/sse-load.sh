#!/usr/bin/env bash
# Load test of the live stream: a release server on loopback and CLIENTS SSE clients for
# SECONDS seconds (defaults 1000 and 20). Prints delivered ticks/s, delivery delay
# percentiles, clients served, and the server's CPU and memory. Stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-1000}
seconds=${2:-20}
port=${PORT:-8099}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cargo build --release -p server --bin blastradius --example sse_load
data=$(mktemp -d)
./target/release/blastradius serve --bind "127.0.0.1:$port" --data-dir "$data" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do
  curl -fs "http://127.0.0.1:$port/api/health" >/dev/null && break
  sleep 0.1
done
./target/release/examples/sse_load "http://127.0.0.1:$port" "$clients" "$seconds" "$server"
