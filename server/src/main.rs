//! The `blastradius` command (SPEC "CLI — Contract"). `serve` is the default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use server::observed::Observed;
use server::prometheus::PrometheusSource;
use server::session::{Session, Source};
use server::store::Store;
use server::{AppState, app, needs_token, otlp_app, run};
use simulator::templates;
use simulator::topology::RoutingMode;

mod commands;

/// mimalloc rather than the system's allocator: a session's engine makes and drops a window
/// of histograms (kilobytes per service) every simulated second, and glibc hands the freed
/// memory back to the kernel and faults it in again each time — 8% of a 1,000-service
/// simulation's time (docs/performance.md, "Seventh pass").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "blastradius",
    version,
    about = "Topology visualisation and chaos-testing dashboard"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the dashboard and the API over one live simulation (the default).
    Serve(ServeArgs),
    /// Simulate a topology file for a while, with faults, and report.
    Simulate {
        /// Topology file (.json, .yaml or .yml).
        file: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Override the file's routing mode.
        #[arg(long, value_enum)]
        routing: Option<Mode>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the same file, seed and faults under dns, lb and smart routing, side by side.
    Compare {
        /// Topology file (.json, .yaml or .yml).
        file: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Availability objective for outage and recovery times.
        #[arg(long, default_value_t = 0.99)]
        slo: f64,
        /// Print the comparison as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Static resilience analysis: entries, single points of failure, blast radius.
    Analyze {
        /// Topology file (.json, .yaml or .yml).
        file: PathBuf,
        /// Print the analysis as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The resilience report: single points of failure, the worst blast radius, and each
    /// routing mode under the worst single-instance kill (Markdown, or JSON).
    Report {
        /// Topology file (.json, .yaml or .yml).
        file: PathBuf,
        /// Seed of the simulated kills.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a chaos experiment (a fault timeline and a steady-state hypothesis, in the JSON
    /// that POST /api/experiments takes) on a fresh run of a topology, and report its verdict.
    /// Exits 0 when the hypothesis held, 1 otherwise.
    Experiment {
        /// Topology file (.json, .yaml or .yml).
        file: PathBuf,
        /// The experiment plan (JSON).
        #[arg(long)]
        plan: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Override the file's routing mode.
        #[arg(long, value_enum)]
        routing: Option<Mode>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a topology file as a real system on this machine: one process per instance,
    /// real HTTP calls, a load generator at each entry, spans sent to the server over OTLP.
    Demo {
        /// Topology file (.json, .yaml or .yml).
        file: PathBuf,
        /// The blastradius server that receives the spans.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Stop after this many seconds (Ctrl-C or SIGTERM stop it too).
        #[arg(long)]
        duration: Option<f64>,
    },
    /// One instance's process of a running demo (started by `demo`).
    #[command(hide = true)]
    DemoInstance {
        #[arg(long)]
        plan: PathBuf,
        /// SERVICE#N
        #[arg(long)]
        instance: String,
    },
    /// Print a template topology (JSON): line, ring, star, full, mesh, tree, scale-free,
    /// pipeline, shop.
    Template {
        name: String,
        /// Number of services.
        #[arg(long)]
        size: Option<usize>,
        /// Seed of the random templates (mesh, scale-free).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Simulated seconds to run.
    #[arg(long)]
    duration: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A fault: "AT KIND TARGET [key=value]...", e.g. "10s kill cart#1". Repeatable.
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// A JSON list of fault objects, as POST /api/faults takes them.
    #[arg(long = "faults")]
    faults_file: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Dns,
    Lb,
    Smart,
}

impl From<Mode> for RoutingMode {
    fn from(mode: Mode) -> RoutingMode {
        match mode {
            Mode::Dns => RoutingMode::Dns,
            Mode::Lb => RoutingMode::Lb,
            Mode::Smart => RoutingMode::Smart,
        }
    }
}

#[derive(clap::Args, Clone)]
struct ServeArgs {
    /// Address to listen on. Anything but loopback requires --token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Directory of the database of saved topologies (created if missing).
    /// Default: $XDG_DATA_HOME/blastradius, or ~/.local/share/blastradius.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Topology file (.json, .yaml or .yml) to simulate instead of the built-in shop demo.
    #[arg(long)]
    topology: Option<PathBuf>,
    /// Directory holding the built dashboard (Trunk's output).
    #[arg(long, default_value = "dist")]
    dist: PathBuf,
    /// Seed of the live simulation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Bearer token required on every request that changes something.
    #[arg(long, env = "BLASTRADIUS_TOKEN")]
    token: Option<String>,
    /// Show the observed system (spans received over OTLP) rather than the simulation.
    #[arg(long)]
    observe: bool,
    /// Also receive OTLP/HTTP traces on a listener of its own (serving only /v1/traces),
    /// e.g. 127.0.0.1:4318, the SDKs' default.
    #[arg(long)]
    otlp_bind: Option<SocketAddr>,
    /// How long an observed service, link or instance stays in the graph after its last
    /// span: "600s", "10m", "1h" or seconds.
    #[arg(long, default_value = "10m", value_parser = parse_duration_s)]
    observe_ttl: f64,
    /// Read the observed graph from this Prometheus server (http://HOST:PORT) instead of
    /// the spans received: the servicegraph connector's / Tempo's traces_service_graph_*
    /// metrics and Istio's istio_requests_total.
    #[arg(long)]
    prometheus: Option<String>,
    /// How often to query Prometheus: "5s", "1m"...
    #[arg(long, default_value = "5s", value_parser = parse_duration_s)]
    prometheus_interval: f64,
    /// The rate() window of the queries, in Prometheus's syntax.
    #[arg(long, default_value = "1m")]
    prometheus_window: String,
    /// Also serve the Toxiproxy API at the root of a listener of its own (Toxiproxy's
    /// default is 127.0.0.1:8474); it is always under /toxiproxy on --bind.
    #[arg(long)]
    toxiproxy_bind: Option<SocketAddr>,
    /// Networks beyond loopback that fault proxies may forward to, e.g.
    /// 10.0.0.0/8,192.168.1.20 (an open proxy would let anyone reach them).
    #[arg(long, value_delimiter = ',')]
    proxy_allow: Vec<server::proxy::Cidr>,
}

/// "90s", "10m", "1h", "1.5" (seconds) as seconds.
fn parse_duration_s(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown unit '{other}': use ms, s, m or h")),
    };
    match number.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 => Ok(value * scale),
        _ => Err(format!(
            "'{text}' is not a positive duration such as 600s or 10m"
        )),
    }
}

fn main() -> ExitCode {
    // Logs go to stderr: stdout carries what a command prints (reports, the URL).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Serve(args)) => serve(args),
        None => serve(cli.serve),
        Some(Command::Simulate {
            file,
            run,
            routing,
            json,
        }) => commands::read_faults(&run.faults, run.faults_file.as_ref()).and_then(|faults| {
            print(commands::simulate(commands::SimulateArgs {
                file: &file,
                duration_s: run.duration,
                seed: run.seed,
                routing: routing.map(RoutingMode::from),
                faults,
                json,
            }))
        }),
        Some(Command::Compare {
            file,
            run,
            slo,
            json,
        }) => commands::read_faults(&run.faults, run.faults_file.as_ref()).and_then(|faults| {
            print(commands::compare(commands::CompareArgs {
                file: &file,
                duration_s: run.duration,
                seed: run.seed,
                faults,
                slo,
                json,
            }))
        }),
        Some(Command::Experiment {
            file,
            plan,
            seed,
            routing,
            json,
        }) => {
            let outcome =
                commands::experiment(&file, &plan, seed, routing.map(RoutingMode::from), json);
            match outcome {
                Ok((text, held)) => {
                    println!("{}", text.trim_end());
                    if held {
                        Ok(())
                    } else {
                        return ExitCode::FAILURE;
                    }
                }
                Err(message) => Err(message),
            }
        }
        Some(Command::Analyze { file, json }) => print(commands::analyze(&file, json)),
        Some(Command::Report { file, seed, json }) => {
            print(commands::resilience_report(&file, seed, json))
        }
        Some(Command::Demo {
            file,
            server,
            duration,
        }) => commands::read_topology(&file)
            .and_then(|topology| server::demo::run(topology, &server, duration)),
        Some(Command::DemoInstance { plan, instance }) => {
            server::demo::run_instance(&plan, &instance)
        }
        Some(Command::Template { name, size, seed }) => {
            print(commands::template(&name, size, seed))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("blastradius: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `$XDG_DATA_HOME/blastradius`, or `~/.local/share/blastradius`, or `./data`.
fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("blastradius");
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/blastradius"),
        None => PathBuf::from("data"),
    }
}

fn print(output: Result<String, String>) -> Result<(), String> {
    let text = output?;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", text.trim_end()) {
        // A reader that stopped early (`| head`) is no failure of ours.
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write the output: {err}"))
        }
        _ => Ok(()),
    }
}

/// `println!` that lets a closed standard output be: the server goes on serving when
/// whoever started it stopped reading (`blastradius serve | head -1`), where `println!`
/// would panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let no_token = args.token.as_deref().is_none_or(str::is_empty);
    for addr in std::iter::once(args.bind)
        .chain(args.otlp_bind)
        .chain(args.toxiproxy_bind)
    {
        if needs_token(&addr) && no_token {
            return Err(format!(
                "refusing to listen on {addr} without a token: anyone who can reach it could \
                 change the session or send it traces. Pass --token or set \
                 BLASTRADIUS_TOKEN, or bind to 127.0.0.1."
            ));
        }
    }
    let topology = match &args.topology {
        None => templates::demo(),
        Some(path) => commands::read_topology(path)?,
    };
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let store = Store::open(&data_dir).map_err(|err| err.to_string())?;
    tracing::info!(dir = %data_dir.display(), "saved topologies are kept here");
    let runtime = tokio::runtime::Runtime::new().map_err(|err| err.to_string())?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .map_err(|err| format!("cannot listen on {}: {err}", args.bind))?;
        let dist_ok = args.dist.join("index.html").is_file();
        if !dist_ok {
            tracing::warn!(
                dist = %args.dist.display(),
                "no built dashboard there: serving the API only (build it with `make run`)"
            );
        }
        let store = std::sync::Arc::new(store);
        let observed = Observed::start(tracegraph::Config {
            forget_after_ns: (args.observe_ttl * 1e9) as u64,
            ..tracegraph::Config::default()
        });
        let source = if args.observe {
            Source::Observed
        } else {
            Source::Simulated
        };
        let session = Session::start_with(topology, args.seed, store.clone(), observed, source)
            .map_err(|err| format!("cannot read the database: {err}"))?;
        let proxies = session.observed.proxies().clone();
        proxies.set_policy(server::proxy::Policy {
            allow: args.proxy_allow.clone(),
            open_listen: !no_token,
            ..server::proxy::Policy::default()
        });
        match store.get_proxies() {
            Ok(Some(saved)) => match proxies.restore(&saved).await {
                Ok(n) => say!("{n} fault proxies restored"),
                Err(err) => tracing::error!(%err, "the saved fault proxies were not restored"),
            },
            Ok(None) => {}
            Err(err) => tracing::error!(%err, "cannot read the saved fault proxies"),
        }
        proxies.persist_to(store.clone());
        let state = AppState {
            session,
            store,
            token: args.token.clone(),
        };
        if let Some(url) = &args.prometheus {
            if !url.starts_with("http://") {
                return Err(format!(
                    "--prometheus {url}: give the server's http:// address (TLS is not built \
                     in; put a local proxy in front of an https one)"
                ));
            }
            let window_ok = args.prometheus_window.len() > 1
                && args.prometheus_window.ends_with(['s', 'm', 'h'])
                && args.prometheus_window[..args.prometheus_window.len() - 1]
                    .bytes()
                    .all(|b| b.is_ascii_digit());
            if !window_ok {
                return Err(format!(
                    "--prometheus-window '{}' is not a Prometheus range such as 30s, 1m or 1h",
                    args.prometheus_window
                ));
            }
            say!("reading the observed graph from Prometheus at {url}");
            state.session.observed.follow_prometheus(PrometheusSource {
                url: url.clone(),
                interval: std::time::Duration::from_secs_f64(args.prometheus_interval),
                window: args.prometheus_window.clone(),
            });
        }
        if let Some(otlp_bind) = args.otlp_bind {
            let otlp_listener = tokio::net::TcpListener::bind(otlp_bind)
                .await
                .map_err(|err| format!("cannot listen for OTLP on {otlp_bind}: {err}"))?;
            say!("receiving OTLP/HTTP traces on http://{otlp_bind}/v1/traces");
            let otlp = otlp_app(state.clone());
            tokio::spawn(async move {
                let stopped = run(otlp_listener, otlp, async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await;
                if let Err(err) = stopped {
                    tracing::error!(%err, "the OTLP listener stopped");
                }
            });
        }
        if let Some(toxiproxy_bind) = args.toxiproxy_bind {
            let toxiproxy_listener = tokio::net::TcpListener::bind(toxiproxy_bind)
                .await
                .map_err(|err| {
                    format!("cannot listen for the Toxiproxy API on {toxiproxy_bind}: {err}")
                })?;
            say!("serving the Toxiproxy API on http://{toxiproxy_bind}");
            let toxiproxy = server::toxiproxy::router(state.clone());
            tokio::spawn(async move {
                let stopped = run(toxiproxy_listener, toxiproxy, async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await;
                if let Err(err) = stopped {
                    tracing::error!(%err, "the Toxiproxy listener stopped");
                }
            });
        }
        let router = app(state, Some(&args.dist));
        let addr = listener.local_addr().map_err(|err| err.to_string())?;
        say!("blastradius is serving on http://{addr}");
        if args.observe {
            say!(
                "observing: point OpenTelemetry SDKs at it with \
                 OTEL_EXPORTER_OTLP_ENDPOINT=http://{addr} (or run `blastradius demo FILE`)"
            );
        }
        run(listener, router, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|err| err.to_string())
    })
}
