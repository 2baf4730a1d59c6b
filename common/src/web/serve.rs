//! The accept loop: per connection, the web config in force (TLS handshake, users,
//! headers), bounded connections and requests, and timeouts for clients that send their
//! headers (or finish their handshake) slowly.

use super::config::{WebSettings, modified};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::Service;

/// A client gets this long to send a request's headers (and, between requests, to send
/// the next one), and to finish the TLS handshake.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Bounds on what clients can hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once; more wait to be accepted.
    pub max_connections: usize,
    /// Requests served at once; more are answered 503 at once.
    pub max_requests: usize,
}

/// The web config in force, re-read when its file or certificate files change.
pub struct WebServer {
    path: Option<PathBuf>,
    current: Mutex<Current>,
}

struct Current {
    settings: Arc<WebSettings>,
    /// The config file and the files it names, with when each was last changed.
    watched: Vec<PathBuf>,
    stamps: Vec<Option<SystemTime>>,
}

impl WebServer {
    /// Reads `path` (None: plain HTTP without authentication); a bad file is an error
    /// naming the file and key.
    pub fn new(path: Option<&Path>) -> Result<WebServer, String> {
        let (settings, watched) = match path {
            Some(path) => WebSettings::load(path)?,
            None => (WebSettings::plain(), Vec::new()),
        };
        let stamps = modified(&watched);
        let current = Current { settings: Arc::new(settings), watched, stamps };
        Ok(WebServer { path: path.map(Path::to_owned), current: Mutex::new(current) })
    }

    /// Whether connections are served with TLS.
    pub fn tls(&self) -> bool {
        self.current.lock().expect("not poisoned").settings.tls.is_some()
    }

    /// The settings for a new connection: re-read when a watched file changed. A file
    /// that no longer loads keeps the previous settings (logged once per change), and
    /// so does one that would switch TLS on or off: that takes a restart, so nothing is
    /// ever served in plain text by mistake.
    fn settings(&self) -> Arc<WebSettings> {
        let mut current = self.current.lock().expect("not poisoned");
        let Some(path) = &self.path else { return Arc::clone(&current.settings) };
        let stamps = modified(&current.watched);
        if stamps == current.stamps {
            return Arc::clone(&current.settings);
        }
        current.stamps = stamps;
        match WebSettings::load(path) {
            Ok((settings, _)) if settings.tls.is_some() != current.settings.tls.is_some() => {
                tracing::error!(file = %path.display(), "web config not applied: switching TLS on or off takes a restart");
            }
            Ok((settings, watched)) => {
                tracing::info!(file = %path.display(), "web config reloaded");
                current.stamps = modified(&watched);
                current.watched = watched;
                current.settings = Arc::new(settings);
            }
            Err(e) => tracing::error!("web config not applied, the previous one stays: {e}"),
        }
        Arc::clone(&current.settings)
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains requests in
/// flight for up to 10 s.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    web: Arc<WebServer>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let requests = Arc::new(Semaphore::new(limits.max_requests));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => permit.expect("never closed"),
            _ = &mut shutdown => break,
        };
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors, mostly: wait rather than spin.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let settings = web.settings();
        let service =
            RequestService { router: router.clone(), settings: Arc::clone(&settings), requests: Arc::clone(&requests) };
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(CLIENT_TIMEOUT);
            let service = hyper::service::service_fn(move |request| service.clone().handle(request));
            match &settings.tls {
                Some(tls) => {
                    let handshake = TlsAcceptor::from(Arc::clone(tls)).accept(tcp);
                    match tokio::time::timeout(CLIENT_TIMEOUT, handshake).await {
                        Ok(Ok(stream)) => {
                            let _ = watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await;
                        }
                        Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake not finished within {CLIENT_TIMEOUT:?}"),
                    }
                }
                None => {
                    let _ = watcher.watch(builder.serve_connection(TokioIo::new(tcp), service)).await;
                }
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}

/// One connection's view: the router, its web settings, and the shared request bound.
#[derive(Clone)]
struct RequestService {
    router: Router,
    settings: Arc<WebSettings>,
    requests: Arc<Semaphore>,
}

impl RequestService {
    async fn handle(mut self, request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        let mut response = match Arc::clone(&self.requests).try_acquire_owned() {
            Err(_) => answer(StatusCode::SERVICE_UNAVAILABLE, "too many requests in flight (see --web.max-requests)\n"),
            Ok(_permit) => {
                let authorization = request.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
                match &self.settings.auth {
                    Some(auth) if !auth.allows(authorization).await => {
                        let mut response = answer(StatusCode::UNAUTHORIZED, "Unauthorized\n");
                        response
                            .headers_mut()
                            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"tickwatch\""));
                        response
                    }
                    _ => match self.router.call(request).await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    },
                }
            }
        };
        for (name, value) in &self.settings.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        Ok(response)
    }
}

fn answer(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response
}
