//! The observed graph read from a Prometheus server (`serve --prometheus URL`), for fleets
//! whose traces one process should not ingest: the OpenTelemetry Collector's servicegraph
//! connector's and Tempo's `traces_service_graph_*` metrics, and Istio's
//! `istio_requests_total` / `istio_request_duration_milliseconds`, queried every few
//! seconds through the HTTP API (`/api/v1/query`, rate and histogram_quantile) and handed
//! to `tracegraph::edges`, which makes the same topology and ticks the traces do.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use tracegraph::edges::EdgeFigures;

/// Where and how often to read.
#[derive(Clone, Debug)]
pub struct PrometheusSource {
    /// The server's base URL, e.g. `http://127.0.0.1:9090`.
    pub url: String,
    pub interval: Duration,
    /// The range of the `rate()` windows, in Prometheus's syntax (`1m`, `30s`).
    pub window: String,
}

/// A link's labels in one metric family: the caller and callee label names.
struct Family {
    client: &'static str,
    server: &'static str,
    requests: &'static str,
    /// The selector of failed requests (a metric name, or one with a label matcher).
    failed: &'static str,
    /// The latency histogram's buckets, and the factor to milliseconds.
    buckets: &'static str,
    to_ms: f64,
}

const FAMILIES: [Family; 2] = [
    Family {
        client: "client",
        server: "server",
        requests: "traces_service_graph_request_total",
        failed: "traces_service_graph_request_failed_total",
        buckets: "traces_service_graph_request_server_seconds_bucket",
        to_ms: 1e3,
    },
    Family {
        client: "source_workload",
        server: "destination_workload",
        requests: "istio_requests_total",
        failed: "istio_requests_total{response_code=~\"5..\"}",
        buckets: "istio_request_duration_milliseconds_bucket",
        to_ms: 1.0,
    },
];

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    result: Vec<Sample>,
}

#[derive(Deserialize)]
struct Sample {
    metric: BTreeMap<String, String>,
    /// `[unix seconds, "value"]`.
    value: (f64, String),
}

impl PrometheusSource {
    /// One instant query: each sample's `(client, server)` labels and its value (NaN and
    /// infinite values, which `histogram_quantile` gives for empty buckets, left out).
    async fn query(
        &self,
        client: &reqwest::Client,
        family: &Family,
        promql: &str,
    ) -> Result<BTreeMap<(String, String), f64>, String> {
        let url = format!("{}/api/v1/query", self.url.trim_end_matches('/'));
        let response = client
            .get(&url)
            .query(&[("query", promql)])
            .send()
            .await
            .map_err(|err| format!("cannot reach Prometheus at {url}: {err}"))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|err| format!("Prometheus at {url} broke off its answer: {err}"))?;
        let answer: Answer = serde_json::from_slice(&body).map_err(|err| {
            format!("Prometheus at {url} answered {status} with something other than its API's JSON: {err}")
        })?;
        if answer.status != "success" {
            return Err(format!(
                "Prometheus refused `{promql}`: {}",
                answer.error.unwrap_or_default()
            ));
        }
        let mut values = BTreeMap::new();
        for sample in answer.data.map(|d| d.result).unwrap_or_default() {
            let (Some(from), Some(to)) = (
                sample.metric.get(family.client),
                sample.metric.get(family.server),
            ) else {
                continue;
            };
            if let Ok(value) = sample.value.1.parse::<f64>()
                && value.is_finite()
            {
                values.insert((from.clone(), to.clone()), value);
            }
        }
        Ok(values)
    }

    /// Every link of both families, with its rates and latency quantiles.
    pub async fn read(&self, client: &reqwest::Client) -> Result<Vec<EdgeFigures>, String> {
        let window = &self.window;
        let mut edges = Vec::new();
        for family in &FAMILIES {
            let by = format!("{}, {}", family.client, family.server);
            let rate = |selector: &str| format!("sum by ({by}) (rate({selector}[{window}]))");
            let quantile = |q: f64| {
                format!(
                    "histogram_quantile({q}, sum by ({by}, le) (rate({}[{window}])))",
                    family.buckets
                )
            };
            let requests = self.query(client, family, &rate(family.requests)).await?;
            if requests.is_empty() {
                continue;
            }
            let failed = self.query(client, family, &rate(family.failed)).await?;
            let p50 = self.query(client, family, &quantile(0.5)).await?;
            let p99 = self.query(client, family, &quantile(0.99)).await?;
            for (key, rps) in requests {
                edges.push(EdgeFigures {
                    rps,
                    failed_rps: failed.get(&key).copied().unwrap_or(0.0),
                    p50_ms: p50.get(&key).map(|s| s * family.to_ms),
                    p99_ms: p99.get(&key).map(|s| s * family.to_ms),
                    client: key.0,
                    server: key.1,
                });
            }
        }
        Ok(edges)
    }
}
