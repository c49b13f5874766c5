# The two commands a user needs. Both install what is missing first (see scripts/setup.sh).
.PHONY: run test

## Build the dashboard and server (release) and serve them on http://127.0.0.1:8080
run:
	./scripts/run.sh

## Everything CI checks: fmt, clippy, Rust tests, the WASM build, browser tests
test:
	./scripts/test.sh
