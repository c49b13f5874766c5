#!/usr/bin/env bash
# Observe mode under load: a release server started with --observe on loopback, then
#  1. first span → visible in the stream, PROBES times (default 200);
#  2. a flood of 512-span exports (1,000 services × 10 instances) from SENDERS tasks for
#     SECONDS seconds (defaults 8 and 20): spans/s accepted, 429/503 answers, the server's
#     CPU and resident memory.
# Stops by itself, and stops the server it started.
set -euo pipefail
cd "$(dirname "$0")/.."
probes=${1:-200}
senders=${2:-8}
seconds=${3:-20}
port=${PORT:-8098}
cargo build --release -p server --bin blastradius --example observe_load
data=$(mktemp -d)
./target/release/blastradius serve --observe --bind "127.0.0.1:$port" --data-dir "$data" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do
  curl -fs "http://127.0.0.1:$port/api/health" >/dev/null && break
  sleep 0.1
done
./target/release/examples/observe_load visible "http://127.0.0.1:$port" "$probes"
./target/release/examples/observe_load flood "http://127.0.0.1:$port" "$seconds" "$senders" "$server"
curl -fs "http://127.0.0.1:$port/api/observed"; echo
