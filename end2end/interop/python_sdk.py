"""Interoperability: spans sent by the OpenTelemetry Python SDK (PyPI's opentelemetry-sdk
with opentelemetry-exporter-otlp-proto-http, unmodified) become the right observed graph
and figures on a real blastradius server.

The known system: `frontend` (two instances) serves every request as a root SERVER span and
calls `api` over HTTP (the W3C traceparent carried in headers, as instrumented HTTP clients
do); `api` reads `redis`, which sends no spans (a CLIENT span with db.system=redis). One
request in ten fails at `api`, and so at `frontend`.

Run: python python_sdk.py [path/to/blastradius]   (scripts/test.sh does, in end2end/.venv)
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

from opentelemetry import context, propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

BINARY = sys.argv[1] if len(sys.argv) > 1 else "target/debug/blastradius"
RATE = 100  # requests a second
SECONDS = 4


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def provider(endpoint, service, instance):
    resource = Resource.create({"service.name": service, "service.instance.id": instance})
    tracer_provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=endpoint)
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=100))
    return tracer_provider


def request(frontend, api, n):
    """One request through the system, the call crossing 'the wire' as headers."""
    failed = n % 10 == 0
    with frontend.start_as_current_span("GET /", kind=SpanKind.SERVER) as root:
        with frontend.start_as_current_span(
            "GET api",
            kind=SpanKind.CLIENT,
            attributes={"server.address": "api.internal", "server.port": 8080},
        ) as call:
            headers = {}
            propagate.inject(headers)
            incoming = propagate.extract(headers)
            token = context.attach(incoming)
            try:
                with api.start_as_current_span("GET /items", kind=SpanKind.SERVER) as served:
                    with api.start_as_current_span(
                        "GET items",
                        kind=SpanKind.CLIENT,
                        attributes={"db.system": "redis", "db.name": "redis"},
                    ):
                        pass
                    if failed:
                        served.set_status(Status(StatusCode.ERROR, "out of items"))
            finally:
                context.detach(token)
            if failed:
                call.set_status(Status(StatusCode.ERROR, "HTTP 500"))
        if failed:
            root.set_status(Status(StatusCode.ERROR, "api failed"))


def get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def ticks(url, until):
    """The `tick` events of the stream at `url` until `until()` is true."""
    with urllib.request.urlopen(url, timeout=10) as stream:
        event = None
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: ") and event == "tick":
                yield json.loads(line[len("data: "):])
                if until():
                    return


class PythonSdk(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.data = tempfile.TemporaryDirectory()
        cls.server = subprocess.Popen(
            [BINARY, "serve", "--observe", "--bind", f"127.0.0.1:{cls.port}", "--data-dir", cls.data.name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        cls.base = f"http://127.0.0.1:{cls.port}"
        for _ in range(100):
            try:
                get(cls.base + "/api/health")
                break
            except OSError:
                time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        cls.server.send_signal(signal.SIGINT)
        cls.server.wait(timeout=10)
        cls.data.cleanup()

    def test_a_known_system_becomes_the_graph_and_figures(self):
        endpoint = self.base + "/v1/traces"
        providers = [
            provider(endpoint, "frontend", "frontend-1"),
            provider(endpoint, "frontend", "frontend-2"),
            provider(endpoint, "api", "api-1"),
        ]
        frontends = [p.get_tracer("interop") for p in providers[:2]]
        api = providers[2].get_tracer("interop")
        done = threading.Event()

        def send():
            n = 0
            start = time.monotonic()
            while time.monotonic() - start < SECONDS:
                for _ in range(RATE // 10):
                    request(frontends[n % 2], api, n)
                    n += 1
                time.sleep(0.1)
            for p in providers:
                p.force_flush()
            done.set()

        sender = threading.Thread(target=send)
        sender.start()
        # The live figures while it runs, 2.5 s in.
        time.sleep(2.5)
        tick = next(ticks(self.base + "/api/events", lambda: True))
        sender.join()

        near = lambda value, expected, tolerance: abs(value - expected) <= tolerance
        frontend = tick["services"]["frontend"]
        self.assertTrue(near(frontend["rps"], RATE, 20), frontend)
        self.assertTrue(near(frontend["success_rate"], 0.9, 0.06), frontend)
        self.assertEqual((frontend["up"], frontend["replicas"]), (2, 2))
        entry = tick["entries"]["frontend"]
        self.assertTrue(near(entry["availability"], 0.9, 0.06), entry)
        self.assertTrue(near(entry["rps"], RATE, 20), entry)
        self.assertNotIn("api", tick["entries"])
        links = {(l["from"], l["to"]): l for l in tick["links"]}
        self.assertTrue(near(links[("frontend", "api")]["rps"], RATE, 20), links)
        self.assertTrue(near(links[("frontend", "api")]["error_rate"], 0.1, 0.06), links)
        self.assertTrue(near(links[("api", "redis")]["rps"], RATE, 20), links)

        time.sleep(0.5)
        topology = get(self.base + "/api/topology")
        services = [(s["name"], s["replicas"], s.get("virtual", False)) for s in topology["services"]]
        self.assertEqual(services, [("api", 1, False), ("frontend", 2, False), ("redis", 1, True)])
        links = [(d["from"], d["to"]) for d in topology["dependencies"]]
        self.assertEqual(links, [("api", "redis"), ("frontend", "api")])
        observed = get(self.base + "/api/observed")
        self.assertEqual(observed["spans_rejected"], 0, observed)
        self.assertEqual(observed["refused_busy"], 0, observed)
        self.assertEqual(observed["graph"]["unpaired_dropped"], 0, observed)
        self.assertGreaterEqual(observed["spans_accepted"], 4 * RATE * (SECONDS - 1), observed)


if __name__ == "__main__":
    result = unittest.main(argv=[sys.argv[0]], exit=False).result
    failed = len(result.failures) + len(result.errors)
    print(f"python-sdk interop: {result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
