//! Celery events on a RabbitMQ broker: Celery publishes them to the `celeryev` topic
//! exchange (routing keys `task.*`, `worker.*`), each message body one event or a list
//! of them in JSON. The consumer reads them through a queue of its own (server-named,
//! exclusive: it goes away with the connection) bound to every routing key.

use super::{EventSettings, Subscription};
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};

/// Celery's event exchange (`event_exchange`).
const EXCHANGE: &str = "celeryev";

/// A connection and a consumer of a fresh queue bound to every event. The exchange is
/// declared as Celery declares it, so the consumer can start before any worker has.
pub(super) async fn subscribe(settings: EventSettings) -> Result<Subscription, String> {
    let failed = |e: lapin::Error| e.to_string();
    let tls = crate::probe::celery::amqp_broker::lapin_tls(settings.tls.as_ref())?;
    let runtime = lapin::runtime::default_runtime().map_err(failed)?;
    let connection = Connection::connect_with_config(&settings.url, ConnectionProperties::default(), tls, runtime)
        .await
        .map_err(failed)?;
    let channel = connection.create_channel().await.map_err(failed)?;
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    channel
        .exchange_declare(EXCHANGE.into(), ExchangeKind::Topic, durable, FieldTable::default())
        .await
        .map_err(failed)?;
    let own = QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() };
    let queue = channel.queue_declare("".into(), own, FieldTable::default()).await.map_err(failed)?;
    let name = queue.name().clone();
    let bind = channel.queue_bind(
        name.clone(),
        EXCHANGE.into(),
        "#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    );
    bind.await.map_err(failed)?;
    let no_ack = BasicConsumeOptions { no_ack: true, ..BasicConsumeOptions::default() };
    let consumer = channel
        .basic_consume(name, "tickwatch-exporter".into(), no_ack, FieldTable::default())
        .await
        .map_err(failed)?;
    let events = consumer.map(move |delivery| delivery.map(|d| serde_json::from_slice(&d.data).ok()).map_err(failed));
    let events = events.boxed();
    Ok(Subscription { events, _keep: Box::new(connection), source: format!("exchange {EXCHANGE}") })
}
