#!/usr/bin/env python3
"""The model of an observed system against real kills.

Runs FILE with `blastradius demo` against a release server with --observe, lets the model
learn for WARMUP seconds, asks `blastradius analyze` what killing each service would do
to each entry (the model's predicted share of requests still succeeding), then kills each
service for real through its fault proxies, KILL seconds each, and measures the share the
observed entries keep (their availability during the kill over theirs before it). Prints
the table, predicted against real, and what the model predicts once it has seen the
kills' failures ("after"). Every process it starts is stopped by its own id.

Usage: scripts/model_accuracy.py FILE [--warmup 25] [--kill 8] [--port 8095]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

BINARY = os.path.join(os.path.dirname(__file__), "..", "target", "release", "blastradius")


def call(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
        return json.loads(text) if text else None


def entry_availability(base, seconds):
    """Each entry's availability over the observed frames of `seconds` (whole seconds)."""
    kept, total = {}, {}
    for t in seconds:
        try:
            frame = call("GET", f"{base}/api/runs/observed/frames/{t}")
        except Exception:
            continue
        for entry, figures in frame.get("entries", {}).items():
            rate, availability = figures.get("rps") or 0.0, figures.get("availability")
            if availability is None:
                continue
            kept[entry] = kept.get(entry, 0.0) + availability * rate
            total[entry] = total.get(entry, 0.0) + rate
    return {e: kept[e] / total[e] for e in total if total[e] > 0}


def learnt(base, data):
    """The model now, and what `blastradius analyze` predicts from it."""
    model = call("GET", f"{base}/api/observed/model")
    model_file = os.path.join(data, "model.json")
    with open(model_file, "w") as out:
        json.dump(model, out)
    analysis = json.loads(
        subprocess.run(
            [BINARY, "analyze", model_file, "--json"], check=True, capture_output=True
        ).stdout
    )
    return model, analysis


def clock(base):
    return int(call("GET", f"{base}/api/runs/observed?epochs=false")["last_s"] or 0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--warmup", type=float, default=25)
    parser.add_argument("--kill", type=int, default=8)
    parser.add_argument("--port", type=int, default=8095)
    args = parser.parse_args()
    base = f"http://127.0.0.1:{args.port}"
    data = tempfile.mkdtemp()
    server = subprocess.Popen(
        [BINARY, "serve", "--observe", "--bind", f"127.0.0.1:{args.port}", "--data-dir", data],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    demo = None
    try:
        for _ in range(50):
            try:
                call("GET", f"{base}/api/health")
                break
            except Exception:
                time.sleep(0.1)
        demo = subprocess.Popen(
            [BINARY, "demo", args.file, "--server", base],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(args.warmup)
        model, analysis = learnt(base, data)
        predicted = analysis["blast_radius"]
        entries = analysis["entries"]
        services = [s["name"] for s in model["services"] if not s.get("virtual")]
        rows = []
        for service in services:
            before = entry_availability(base, range(clock(base) - 5, clock(base)))
            fault = call("POST", f"{base}/api/faults", {"kind": "kill", "service": service})
            started = clock(base)
            time.sleep(args.kill)
            # The first seconds are the exporters' lag and the figures' window catching up.
            during = entry_availability(base, range(started + 3, clock(base)))
            call("DELETE", f"{base}/api/faults/{fault['id']}")
            for entry in entries:
                if entry not in before or entry not in during or before[entry] <= 0:
                    continue
                real = min(1.0, during[entry] / before[entry])
                guess = predicted.get(service, {}).get(entry, 1.0)
                rows.append((service, entry, guess, real))
            time.sleep(args.kill)
        # What the model predicts once it has seen the kills' failures.
        _, after = learnt(base, data)
        print(f"{'killed':<14} {'entry':<12} {'predicted':>9} {'real':>6} {'gap':>6} {'after':>6}")
        for service, entry, guess, real in rows:
            later = after["blast_radius"].get(service, {}).get(entry, 1.0)
            print(
                f"{service:<14} {entry:<12} {guess:>9.3f} {real:>6.3f} "
                f"{abs(guess - real):>6.3f} {later:>6.3f}"
            )
        within = sum(1 for r in rows if abs(r[2] - r[3]) <= 0.08)
        print(f"{within} of {len(rows)} within 0.08 before any kill")
    finally:
        if demo:
            demo.terminate()
            demo.wait()
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
