//! The spans the graph is built from: the parts of an OpenTelemetry span that matter to a
//! service graph, grouped by the resource (service and instance) that sent them. The server
//! converts OTLP's messages into these; tests write them by hand.

/// What a span stands for, as OpenTelemetry's `SpanKind` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpanKind {
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    /// A call out of the service (CLIENT or PRODUCER).
    pub fn is_outgoing(self) -> bool {
        matches!(self, SpanKind::Client | SpanKind::Producer)
    }

    /// Work the service does for a caller (SERVER or CONSUMER).
    pub fn is_incoming(self) -> bool {
        matches!(self, SpanKind::Server | SpanKind::Consumer)
    }
}

/// One span, as much of it as the graph needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub trace_id: u128,
    pub span_id: u64,
    /// 0 for a root span.
    pub parent_span_id: u64,
    pub kind: SpanKind,
    /// Unix nanoseconds.
    pub start_ns: u64,
    pub end_ns: u64,
    /// Its status is `ERROR`.
    pub error: bool,
    /// For an outgoing span: the callee its attributes name (`peer.service`, else
    /// `db.name`/`db.system`, `server.address[:server.port]` or
    /// `messaging.destination.name`), which names a virtual service when the callee sends
    /// no spans of its own.
    pub peer: Option<Box<str>>,
    /// The peer is a database (`db.system` is set): databases send no spans of their own,
    /// so the call is counted to the virtual service at once, as the servicegraph
    /// connector does, rather than after waiting for a partner.
    pub database: bool,
    /// For an outgoing HTTP span: `http.request.resend_count`, which attempt of one call
    /// it is (0 or absent: the first), so retries are told exactly, not from timing.
    pub resend_count: Option<u32>,
}

impl Span {
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }
}

/// The spans one instance of one service sent.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceSpans {
    /// The resource's `service.name`.
    pub service: String,
    /// Its `service.instance.id`, else `host.name` with `process.pid`, else the service.
    pub instance: String,
    pub spans: Vec<Span>,
}

/// What one export request carried.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    pub resources: Vec<ResourceSpans>,
}

impl Batch {
    pub fn span_count(&self) -> usize {
        self.resources.iter().map(|r| r.spans.len()).sum()
    }
}
