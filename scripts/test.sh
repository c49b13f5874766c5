#!/usr/bin/env bash
# Everything CI checks: formatting, lints, Rust tests, the release build of the dashboard,
# and the browser tests against a server the suite starts and stops itself.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --browser
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PWD/end2end/node_modules/.bin:$PATH"

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p app --target wasm32-unknown-unknown -- -D warnings
step "cargo test"
cargo test --workspace
step "trunk build --release"
trunk build --release --offline
cargo build -p server
step "interop: spans from the OpenTelemetry Python SDK"
end2end/.venv/bin/python end2end/interop/python_sdk.py target/debug/blastradius
step "end2end (Playwright, headless Chromium)"
(cd end2end && npx playwright test)
