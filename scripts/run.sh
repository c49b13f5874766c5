#!/usr/bin/env bash
# Builds the dashboard and the server in release mode and serves both on one port
# (http://127.0.0.1:8080 unless --bind says otherwise). Extra arguments go to `serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PWD/end2end/node_modules/.bin:$PATH"

echo "==> building the dashboard (release)"
trunk build --release --offline
echo "==> building the server (release)"
cargo build --release -p server
exec ./target/release/blastradius serve --dist dist "$@"
