//! `tickwatch-exporter`: serves Prometheus metrics for the Redis servers, Celery brokers
//! and market-data feeds named in its config file.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tickwatch_common::web::{Limits, WebServer};
use tickwatch_exporter::config;
use tickwatch_exporter::probe::KINDS;
use tickwatch_exporter::shared::Shared;
use tickwatch_exporter::web::{App, router};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "tickwatch-exporter",
    version,
    about = "Prometheus exporter for market-data platforms: Redis, Celery, MongoDB and WebSocket gateways.",
    long_about = "Prometheus exporter for market-data platforms: Redis, Celery, MongoDB and WebSocket gateways.\n\n\
        Every target in the config file is probed at scrape time, concurrently, each within the \
        scrape's timeout (X-Prometheus-Scrape-Timeout-Seconds less 0.5 s). A target that is down \
        or slow reports tickwatch_probe_success 0 and never delays the others.\n\n\
        SIGHUP (or POST /-/reload with --web.enable-lifecycle) reloads the config file: unchanged \
        targets keep their connections and counters, a file with problems keeps the running config.\n\n\
        Endpoints: /metrics, /probe?target=NAME, /-/reload, /-/healthy, /-/ready, and a landing page at /."
)]
struct Cli {
    /// The TOML config file (see examples/exporter.toml).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Address to listen on; overrides [web] listen_address (default 0.0.0.0:10089).
    #[arg(long = "web.listen-address", value_name = "HOST:PORT")]
    listen_address: Option<String>,
    /// TLS, client certificates, basic auth and response headers for every endpoint, in
    /// Prometheus exporter-toolkit's YAML format (tls_server_config, basic_auth_users,
    /// http_server_config.headers). Re-read when it or its certificate files change.
    #[arg(long = "web.config.file", value_name = "FILE")]
    web_config_file: Option<PathBuf>,
    /// Most requests served at once; more are answered 503 at once.
    #[arg(long = "web.max-requests", value_name = "N", default_value_t = 40)]
    max_requests: usize,
    /// Most connections open at once; more wait to be accepted (idle ones are closed
    /// after 10 s without a request).
    #[arg(long = "web.max-connections", value_name = "N", default_value_t = 512)]
    max_connections: usize,
    /// Serve POST /-/reload (Prometheus's flag). SIGHUP reloads too, always.
    #[arg(long = "web.enable-lifecycle")]
    enable_lifecycle: bool,
    /// Check the config file (and --web.config.file), print every problem (file, key,
    /// why), and exit: 0 when it is valid, 1 when it is not.
    #[arg(long = "check-config")]
    check_config: bool,
    /// Log level or filter (error, warn, info, debug, trace, or a tracing filter). Without
    /// it, RUST_LOG is used, then `info`.
    #[arg(long = "log.level", value_name = "LEVEL")]
    log_level: Option<String>,
    /// Log format: JSON lines (the default, for log shippers) or plain text.
    #[arg(long = "log.format", value_enum, default_value = "json")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Json,
    Text,
}

fn main() -> ExitCode {
    tickwatch_exporter::memory::return_big_blocks();
    let cli = Cli::parse();
    let config = match config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("{} problem(s) in {}; nothing was started.", e.problems.len(), e.file);
            return ExitCode::FAILURE;
        }
    };
    let address = cli.listen_address.clone().unwrap_or_else(|| config.web.listen_address.clone());
    let web = match WebServer::new(cli.web_config_file.as_deref()) {
        Ok(web) => Arc::new(web),
        Err(e) => {
            eprintln!("{e}");
            eprintln!("nothing was started.");
            return ExitCode::FAILURE;
        }
    };
    if cli.check_config {
        println!("{}: OK ({}; listening on {address})", cli.config.display(), summary(&config));
        if let Some(file) = &cli.web_config_file {
            println!("{}: OK ({})", file.display(), if web.tls() { "TLS" } else { "plain HTTP" });
        }
        return ExitCode::SUCCESS;
    }
    if cli.max_requests == 0 || cli.max_connections == 0 {
        eprintln!("tickwatch-exporter: --web.max-requests and --web.max-connections must be at least 1");
        return ExitCode::FAILURE;
    }
    let limits = Limits { max_requests: cli.max_requests, max_connections: cli.max_connections };
    init_logging(cli.log_level.as_deref(), cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tickwatch-exporter: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let lifecycle = cli.enable_lifecycle;
    match runtime.block_on(serve(cli.config, config, address, web, limits, lifecycle)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickwatch-exporter: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the config holds, kind by kind, e.g. `1 redis, 0 celery, 0 mongodb, 2 websocket
/// target(s), 1 feed(s)`.
fn summary(config: &config::Config) -> String {
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    for kind in KINDS {
        let count = match kind.section() {
            same if same == kind.counted_as() => config.count(same).to_string(),
            section => format!("{} {section}", config.count(section)),
        };
        match groups.last_mut() {
            Some((noun, counts)) if *noun == kind.counted_as() => counts.push(count),
            _ => groups.push((kind.counted_as(), vec![count])),
        }
    }
    let groups: Vec<String> =
        groups.into_iter().map(|(noun, counts)| format!("{} {noun}(s)", counts.join(", "))).collect();
    groups.join(", ")
}

fn init_logging(level: Option<&str>, format: LogFormat) {
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn serve(
    config_path: PathBuf,
    config: config::Config,
    address: String,
    web: Arc<WebServer>,
    limits: Limits,
    lifecycle: bool,
) -> Result<(), String> {
    let listener =
        tokio::net::TcpListener::bind(&address).await.map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let shared = Arc::new(Shared::new());
    let app = Arc::new(App::start(config_path, &config, Arc::clone(&shared), lifecycle));
    // The targets hold what they need; the parsed file (every table, for reload
    // fingerprints) would otherwise stay for the process's life.
    drop(config);
    tickwatch_exporter::memory::release_freed();
    tracing::info!(address, targets = app.target_count(), tls = web.tls(), "tickwatch-exporter listening");
    tokio::spawn(reload_on_sighup(Arc::clone(&app)));
    tickwatch_common::web::serve(listener, router(app), web, limits, shutdown_signal()).await;
    shared.consumers.stop_all();
    Ok(())
}

/// Reloads the config on every SIGHUP.
async fn reload_on_sighup(app: Arc<App>) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::error!("cannot listen for SIGHUP; reload with POST /-/reload (--web.enable-lifecycle)");
        return;
    };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the config");
        let _ = app.reload().await;
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return ctrl_c.await.unwrap_or(()),
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
}
