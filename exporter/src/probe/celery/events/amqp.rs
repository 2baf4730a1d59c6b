//! Celery events on a RabbitMQ broker: Celery publishes them to the `celeryev` topic
//! exchange (routing keys `task.*`, `worker.*`), each message body one event or a list
//! of them in JSON. The consumer reads them through a queue of its own (server-named,
//! exclusive: it goes away with the connection) bound to every routing key.

use super::{EventMetrics, EventSettings, EventState};
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::tcp::OwnedTLSConfig;
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, Consumer, ExchangeKind};
use std::sync::Arc;
use std::time::Duration;
use tickwatch_common::backoff::Backoff;

/// Celery's event exchange (`event_exchange`).
const EXCHANGE: &str = "celeryev";

/// Consumes the target's events until the consumer is stopped, reconnecting on its own.
pub(super) async fn run(settings: EventSettings, metrics: Arc<EventMetrics>) {
    let connected = metrics.connected.with_label_values(&[&settings.target]);
    connected.set(0);
    let mut state = EventState::new(settings.clone(), metrics.clone());
    let tls = match crate::probe::celery::amqp_broker::lapin_tls(settings.tls.as_ref()) {
        Ok(tls) => tls,
        Err(e) => {
            tracing::error!(target = settings.target, "celery event consumer not started: {e}");
            return;
        }
    };
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        match subscribe(&settings.url, &tls).await {
            Ok((_connection, mut deliveries)) => {
                connected.set(1);
                backoff.reset();
                tracing::info!(target = settings.target, exchange = EXCHANGE, "consuming celery events");
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        delivery = deliveries.next() => match delivery {
                            Some(Ok(delivery)) => match serde_json::from_slice(&delivery.data) {
                                Ok(events) => state.handle_events(&events),
                                Err(_) => tracing::debug!(target = settings.target, "ignored an undecodable event message"),
                            },
                            Some(Err(e)) => {
                                tracing::warn!(target = settings.target, "celery event stream failed: {e}");
                                break;
                            }
                            None => break,
                        },
                        _ = tick.tick() => state.tick(),
                    }
                }
                connected.set(0);
                tracing::warn!(target = settings.target, "celery event stream closed; reconnecting");
            }
            Err(e) => tracing::warn!(target = settings.target, "cannot consume celery events: {e}"),
        }
        // Workers time out while the broker is gone, too.
        state.tick();
        backoff.wait().await;
    }
}

/// A connection and a consumer of a fresh queue bound to every event. The exchange is
/// declared as Celery declares it, so the consumer can start before any worker has.
async fn subscribe(url: &str, tls: &OwnedTLSConfig) -> Result<(Connection, Consumer), lapin::Error> {
    let runtime = lapin::runtime::default_runtime()?;
    let connection =
        Connection::connect_with_config(url, ConnectionProperties::default(), tls.clone(), runtime).await?;
    let channel = connection.create_channel().await?;
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    channel.exchange_declare(EXCHANGE.into(), ExchangeKind::Topic, durable, FieldTable::default()).await?;
    let own = QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() };
    let queue = channel.queue_declare("".into(), own, FieldTable::default()).await?;
    let name = queue.name().clone();
    channel
        .queue_bind(name.clone(), EXCHANGE.into(), "#".into(), QueueBindOptions::default(), FieldTable::default())
        .await?;
    let no_ack = BasicConsumeOptions { no_ack: true, ..BasicConsumeOptions::default() };
    let consumer = channel.basic_consume(name, "tickwatch-exporter".into(), no_ack, FieldTable::default()).await?;
    Ok((connection, consumer))
}
