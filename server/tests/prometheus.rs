//! The Prometheus source against a real Prometheus (Debian's `prometheus`, installed by
//! scripts/setup.sh): the test runs a small exporter of both metric families — the
//! servicegraph connector's `traces_service_graph_*` and Istio's `istio_requests_*` — has
//! Prometheus scrape it every second, and checks the observed graph and figures the server
//! reads from Prometheus's HTTP API.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use server::observed::Observed;
use server::prometheus::PrometheusSource;
use server::session::{Session, Source};
use simulator::templates;

/// Counters growing at fixed rates since the exporter started (per second):
/// user → web 100 (10 failed), web → cart 50 (5 failed), latencies under 10 ms (p50) and
/// 100 ms (p99); Istio: unknown → gateway 20 (2 with 503), gateway → orders 10.
fn exposition(seconds: f64) -> String {
    let c = |rate: f64| rate * seconds;
    let mut text = String::from(
        "# TYPE traces_service_graph_request_total counter\n\
         # TYPE traces_service_graph_request_failed_total counter\n\
         # TYPE traces_service_graph_request_server_seconds histogram\n\
         # TYPE istio_requests_total counter\n\
         # TYPE istio_request_duration_milliseconds histogram\n",
    );
    for (client, server, rate, failed) in [("user", "web", 100.0, 10.0), ("web", "cart", 50.0, 5.0)]
    {
        let labels = format!("client=\"{client}\",server=\"{server}\",connection_type=\"\"");
        text += &format!(
            "traces_service_graph_request_total{{{labels}}} {}\n",
            c(rate)
        );
        text += &format!(
            "traces_service_graph_request_failed_total{{{labels}}} {}\n",
            c(failed)
        );
        // Half the requests under 5 ms, 98% under 50 ms, all under 0.5 s.
        for (le, share) in [("0.005", 0.5), ("0.05", 0.98), ("0.5", 1.0), ("+Inf", 1.0)] {
            text += &format!(
                "traces_service_graph_request_server_seconds_bucket{{{labels},le=\"{le}\"}} {}\n",
                c(rate * share)
            );
        }
    }
    for (source, destination, code, rate) in [
        ("unknown", "gateway", "200", 18.0),
        ("unknown", "gateway", "503", 2.0),
        ("gateway", "orders", "200", 10.0),
    ] {
        let labels = format!(
            "source_workload=\"{source}\",destination_workload=\"{destination}\",response_code=\"{code}\""
        );
        text += &format!("istio_requests_total{{{labels}}} {}\n", c(rate));
        for (le, share) in [("10", 0.6), ("100", 1.0), ("+Inf", 1.0)] {
            text += &format!(
                "istio_request_duration_milliseconds_bucket{{{labels},le=\"{le}\"}} {}\n",
                c(rate * share)
            );
        }
    }
    text
}

/// Stops the Prometheus it holds, by its id, however the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graph_comes_from_a_real_prometheus_for_both_metric_families() {
    // The exporter.
    let started = Instant::now();
    let exporter = Router::new().route(
        "/metrics",
        get(move || async move { exposition(started.elapsed().as_secs_f64()) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let exporter_addr = listener.local_addr().unwrap();
    tokio::spawn(server::run(listener, exporter, std::future::pending()));

    // Prometheus, scraping it every second.
    let dir = tempdir();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: exporter\n    static_configs:\n      - targets: ['{exporter_addr}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Debian's prometheus on PATH (scripts/setup.sh installs it)");
    let _prometheus = Running(prometheus);

    let store = std::sync::Arc::new(server::store::Store::in_memory().unwrap());
    let observed = Observed::start(tracegraph::Config::default());
    let session = Session::start_with(
        templates::demo(),
        1,
        store,
        observed.clone(),
        Source::Observed,
    )
    .unwrap();
    observed.follow_prometheus(PrometheusSource {
        url: format!("http://127.0.0.1:{port}"),
        interval: Duration::from_millis(500),
        window: "5s".into(),
    });

    // Wait until both families are read, then until the 5 s rate window is full of
    // scrapes (over a younger series, rate() extrapolates only part of the way).
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut first_read = None;
    let tick = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let tick = session.tick();
        let read = tick.link("web", "cart").is_some() && tick.link("gateway", "orders").is_some();
        if read && first_read.is_none() {
            first_read = Some(Instant::now());
        }
        if first_read.is_some_and(|at| at.elapsed() > Duration::from_secs(7)) {
            break tick;
        }
        assert!(
            Instant::now() < deadline,
            "no graph from Prometheus in time: {:?}, {:?}",
            observed.prometheus(),
            tick
        );
    };
    let state = observed.prometheus().unwrap();
    assert_eq!(state.error, None);
    assert!(state.polls > 0);

    let near = |value: f64, expected: f64, tolerance: f64| (value - expected).abs() <= tolerance;
    // The servicegraph family: user → web makes web an entry.
    let web = &tick.entries["web"];
    assert!(near(web.rps, 100.0, 10.0), "{web:?}");
    assert!(near(web.availability.unwrap(), 0.9, 0.02), "{web:?}");
    let call = tick.link("web", "cart").unwrap();
    assert!(near(call.rps, 50.0, 5.0), "{call:?}");
    assert!(near(call.error_rate.unwrap(), 0.1, 0.02), "{call:?}");
    let cart = &tick.services["cart"];
    assert!(near(cart.rps, 50.0, 5.0), "{cart:?}");
    // histogram_quantile interpolates within the buckets: p50 at the 5 ms bound, p99 in
    // the 50–500 ms bucket.
    assert!(near(cart.p50_ms.unwrap(), 5.0, 0.5), "{cart:?}");
    assert!((50.0..=500.0).contains(&cart.p99_ms.unwrap()), "{cart:?}");
    // Istio: unknown → gateway makes gateway an entry; 503s are its failures.
    let gateway = &tick.entries["gateway"];
    assert!(near(gateway.rps, 20.0, 2.0), "{gateway:?}");
    assert!(
        near(gateway.availability.unwrap(), 0.9, 0.02),
        "{gateway:?}"
    );
    assert_eq!(
        tick.link("gateway", "orders").unwrap().error_rate,
        Some(0.0)
    );
    assert!(!tick.entries.contains_key("cart"));
    assert!(!tick.services.contains_key("user") && !tick.services.contains_key("unknown"));
    // Overall: (90 + 18) of 120 outside requests succeeded.
    assert!(near(tick.availability.unwrap(), 108.0 / 120.0, 0.02));

    let topology = session.topology();
    let names: Vec<&str> = topology.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["cart", "gateway", "orders", "web"]);
    topology.validate().unwrap();
    // No spans, no model to run beside it: said, not an empty model.
    let refused = session.start_twin().unwrap_err();
    assert!(refused.to_string().contains("--prometheus"), "{refused}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "blastradius-prometheus-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
