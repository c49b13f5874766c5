#!/usr/bin/env bash
# Installs what building and testing blastradius needs, skipping what is already there:
# the wasm32 target, Trunk, the wasm-bindgen CLI matching Cargo.lock, and the npm packages
# of end2end/ (Playwright and the binaryen wasm-opt), and the OpenTelemetry Python SDK
# (end2end/.venv) for the interoperability test. With --browser, also Chromium and
# Prometheus (Debian's packages).
# Safe to run again and again; quick when everything is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PWD/end2end/node_modules/.bin:$PATH"

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
  step "installing Trunk $TRUNK_VERSION (about 8 minutes on 2 cores, once)"
  # 0.22 needs a newer rustc; rustls avoids a system OpenSSL.
  cargo install --locked trunk --version "$TRUNK_VERSION" --no-default-features --features rustls
fi

# Trunk needs the wasm-bindgen CLI of exactly the version the app links against.
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ -z "$bindgen_version" ]; then
  echo "setup: cannot find wasm-bindgen's version in Cargo.lock" >&2
  exit 1
fi
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]; then
  step "installing wasm-bindgen-cli $bindgen_version (about 3 minutes, once)"
  # Not --locked: its lockfile pins a crate version the registry mirror lacks.
  cargo install wasm-bindgen-cli --version "$bindgen_version"
fi

# Playwright and wasm-opt (npm's binaryen: Debian's is too old and breaks the module).
if [ ! -x end2end/node_modules/.bin/wasm-opt ] || [ ! -d end2end/node_modules/@playwright/test ] \
  || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  step "installing the npm packages of end2end/"
  (cd end2end && npm ci --no-audit --no-fund)
fi

# The OpenTelemetry Python SDK for the interoperability test, in a virtualenv of its own.
if [ ! -x end2end/.venv/bin/python ] || [ end2end/interop/requirements.txt -nt end2end/.venv/.installed ]; then
  step "installing the OpenTelemetry Python SDK (end2end/.venv)"
  python3 -m venv end2end/.venv
  end2end/.venv/bin/pip install -q --disable-pip-version-check -r end2end/interop/requirements.txt
  touch end2end/.venv/.installed
fi

# With --browser (the tests): Chromium, and a real Prometheus for the Prometheus source's
# test (Debian's package, without its recommends; the test starts its own).
apt_install() {
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  [ -n "${apt_updated:-}" ] || { $sudo apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}
if [ "${1:-}" = "--browser" ]; then
  if ! command -v "${CHROMIUM:-/usr/bin/chromium}" >/dev/null; then
    step "installing Chromium (Debian package)"
    apt_install chromium
  fi
  if ! command -v prometheus >/dev/null; then
    step "installing Prometheus (Debian package)"
    apt_install --no-install-recommends prometheus
  fi
fi
