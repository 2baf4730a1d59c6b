use super::CeleryTarget;
use super::QUEUE_LENGTH;
use crate::exposition::{Samples, families};
use crate::probe::{Probe, ProbeError, ProbeFuture, ProbeResult};
use crate::reason::Reason;
use lapin::options::QueueDeclareOptions;
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use tickwatch_common::tls::TlsConfig;
use tokio::sync::Mutex;

families! {
    CONSUMERS: gauge "celery_active_consumer_count", "Consumers attached to the queue (RabbitMQ).";
}

/// Queue message and consumer counts on a RabbitMQ broker, read with passive declares
/// over one connection kept between scrapes.
pub struct AmqpQueues {
    name: String,
    url: String,
    tls: OwnedTLSConfig,
    queues: Vec<String>,
    connection: Mutex<Option<Connection>>,
}

impl AmqpQueues {
    pub fn new(target: &CeleryTarget) -> Result<AmqpQueues, String> {
        Ok(AmqpQueues {
            name: target.name.clone(),
            url: target.broker.clone(),
            tls: lapin_tls(target.tls_config.as_ref())?,
            queues: target.queues.clone(),
            connection: Mutex::new(None),
        })
    }

    async fn read(&self) -> ProbeResult {
        let mut held = self.connection.lock().await;
        if !held.as_ref().is_some_and(|c| c.status().connected()) {
            let runtime = lapin::runtime::default_runtime()
                .map_err(|e| ProbeError::new(Reason::Config, format!("no runtime for the AMQP driver: {e}")))?;
            let connection =
                Connection::connect_with_config(&self.url, ConnectionProperties::default(), self.tls.clone(), runtime)
                    .await
                    .map_err(|e| match tickwatch_common::tls::explain(&e) {
                        Some(hint) => {
                            ProbeError::new(Reason::Tls, format!("cannot connect to the AMQP broker: {e}: {hint}"))
                        }
                        None => ProbeError::new(Reason::Connection, format!("cannot connect to the AMQP broker: {e}")),
                    })?;
            *held = Some(connection);
        }
        let connection = held.as_ref().expect("connected above");
        let mut out = Samples::new();
        let mut channel: Option<Channel> = None;
        for queue in &self.queues {
            let ch = match &channel {
                Some(ch) if ch.status().connected() => ch.clone(),
                _ => {
                    let ch = connection
                        .create_channel()
                        .await
                        .map_err(|e| ProbeError::new(Reason::Connection, format!("cannot open a channel: {e}")))?;
                    channel = Some(ch.clone());
                    ch
                }
            };
            let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
            match ch.queue_declare(queue.as_str().into(), passive, FieldTable::default()).await {
                Ok(q) => {
                    let labels = [("target", self.name.as_str()), ("queue_name", queue.as_str())];
                    out.add(&QUEUE_LENGTH, &labels, f64::from(q.message_count()));
                    out.add(&CONSUMERS, &labels, f64::from(q.consumer_count()));
                }
                // A missing queue closes the channel (404 NOT_FOUND): the queue is absent,
                // not empty, and the next queue gets a fresh channel.
                Err(e) if connection.status().connected() => {
                    tracing::debug!(target = self.name, queue, "queue not readable: {e}");
                    channel = None;
                }
                Err(e) => return Err(ProbeError::new(Reason::Connection, format!("connection lost: {e}"))),
            }
        }
        if let Some(ch) = channel {
            let _ = ch.close(200, "probe done".into()).await;
        }
        Ok(out)
    }
}

impl Probe for AmqpQueues {
    fn probe(&self) -> ProbeFuture<'_> {
        Box::pin(self.read())
    }
}

/// The driver's TLS settings: the CA file's PEM as the chain to trust, and the client
/// certificate and key.
pub(super) fn lapin_tls(tls: Option<&TlsConfig>) -> Result<OwnedTLSConfig, String> {
    let Some(tls) = tls else { return Ok(OwnedTLSConfig::default()) };
    let pem = tls.pem_files()?;
    let cert_chain = pem.ca.map(|ca| String::from_utf8_lossy(&ca).into_owned());
    let identity = pem.identity.map(|(pem, key)| OwnedIdentity::PKCS8 { pem, key });
    Ok(OwnedTLSConfig { identity, cert_chain })
}
