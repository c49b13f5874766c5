//! The `blastradius` command (SPEC "CLI — Contract"). `serve` is the default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use server::session::Session;
use server::{AppState, app, needs_token, run};
use simulator::templates;
use simulator::topology::Topology;

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
}

#[derive(clap::Args, Clone)]
struct ServeArgs {
    /// Address to listen on. Anything but loopback requires --token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Directory for saved data (the embedded database arrives with issue 4).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Topology file (JSON) to simulate instead of the built-in shop demo.
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
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Serve(args)) => serve(args),
        None => serve(cli.serve),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("blastradius: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    if needs_token(&args.bind) && args.token.as_deref().is_none_or(str::is_empty) {
        return Err(format!(
            "refusing to listen on {} without a token: anyone who can reach it could change \
             the session. Pass --token or set BLASTRADIUS_TOKEN, or bind to 127.0.0.1.",
            args.bind
        ));
    }
    let topology = match &args.topology {
        None => templates::demo(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|err| format!("cannot read topology {}: {err}", path.display()))?;
            Topology::from_json(&text)
                .map_err(|err| format!("topology {} is invalid: {err}", path.display()))?
        }
    };
    if let Some(dir) = &args.data_dir {
        tracing::warn!(dir = %dir.display(), "--data-dir is accepted but nothing is saved yet");
    }
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
        let state = AppState {
            session: Session::start(topology, args.seed),
            token: args.token.clone(),
        };
        let router = app(state, Some(&args.dist));
        let addr = listener.local_addr().map_err(|err| err.to_string())?;
        println!("blastradius is serving on http://{addr}");
        run(listener, router, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|err| err.to_string())
    })
}
