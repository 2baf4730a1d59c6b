use crate::{KitError, Result, free_port};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Alert name to the times (seconds since the webhook started) of its firing notifications.
pub type Notifications = BTreeMap<String, Vec<f64>>;

/// An HTTP endpoint Alertmanager delivers notifications to (its `webhook_configs`), which
/// records every firing alert it is told about.
pub struct AlertWebhook {
    port: u16,
    started: Instant,
    heard: Arc<Mutex<Notifications>>,
}

impl AlertWebhook {
    /// Listens on a free loopback port, in a thread of its own, for as long as the test runs.
    pub fn start() -> Result<AlertWebhook> {
        let port = free_port();
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let (started, heard) = (Instant::now(), Arc::<Mutex<Notifications>>::default());
        let record = Arc::clone(&heard);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| KitError(format!("cannot start the webhook's runtime: {e}")))?;
        std::thread::spawn(move || {
            runtime.block_on(async move {
                let app = axum::Router::new().route(
                    "/",
                    axum::routing::post(move |body: String| async move {
                        let note: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                        let mut record = record.lock().expect("not poisoned");
                        for alert in note["alerts"].as_array().into_iter().flatten() {
                            if alert["status"] == "firing"
                                && let Some(name) = alert["labels"]["alertname"].as_str()
                            {
                                record.entry(name.to_owned()).or_default().push(started.elapsed().as_secs_f64());
                            }
                        }
                        "ok"
                    }),
                );
                if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                    let _ = axum::serve(listener, app).await;
                }
            });
        });
        Ok(AlertWebhook { port, started, heard })
    }

    /// The URL to give Alertmanager.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Seconds since the webhook started (the clock its notification times are on).
    pub fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Every firing notification so far.
    pub fn heard(&self) -> Notifications {
        self.heard.lock().expect("not poisoned").clone()
    }
}
