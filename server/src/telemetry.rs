//! Spans out, with the OpenTelemetry Rust SDK: the tracer provider each process of
//! `blastradius demo` exports its spans through (OTLP/HTTP protobuf, batched), as any
//! instrumented service would.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};

/// A tracer provider for instance `instance` of `service`, exporting to `endpoint` (the
/// full `/v1/traces` URL) every `delay` (an SDK's default is 5 s; the demo sends sooner, so
/// the graph is live).
pub fn tracer_provider(
    endpoint: &str,
    service: &str,
    instance: &str,
    delay: Duration,
) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(5))
        .build()
        .map_err(|err| format!("cannot make the OTLP exporter for {endpoint}: {err}"))?;
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_scheduled_delay(delay)
                .with_max_queue_size(65_536)
                .with_max_export_batch_size(2_048)
                .build(),
        )
        .build();
    let resource = Resource::builder_empty()
        .with_service_name(service.to_string())
        .with_attribute(KeyValue::new("service.instance.id", instance.to_string()))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_resource(resource)
        .with_span_processor(processor)
        .build())
}
