"""A small Celery app that the tickwatch test kit runs as a real worker.

The broker comes from TICKWATCH_BROKER_URL (Redis, RabbitMQ or Sentinels), Kombu's
global_keyprefix from TICKWATCH_KEYPREFIX, a Sentinel master's name from
TICKWATCH_MASTER_NAME; results go to the same Redis (RabbitMQ: reply queues) so tests
can see what the worker did. Task events are on (`-E` plus task_send_sent_event) because the
exporter's Celery event consumer is tested against them.
"""
import os
import time

from celery import Celery
from celery.exceptions import Reject

broker = os.environ["TICKWATCH_BROKER_URL"]
# Redis brokers keep results in the same Redis, RabbitMQ brokers in reply queues; behind
# Sentinels no results are kept.
default_backend = {"redis": broker, "amqp": "rpc://"}.get(broker.split(":")[0])
app = Celery("tickwatch_kit", broker=broker, backend=os.environ.get("TICKWATCH_RESULT_URL", default_backend))
transport_options = {}
if os.environ.get("TICKWATCH_KEYPREFIX"):
    # Kombu prefixes every key and channel of the broker with it.
    transport_options["global_keyprefix"] = os.environ["TICKWATCH_KEYPREFIX"]
if os.environ.get("TICKWATCH_MASTER_NAME"):
    # A sentinel:// broker: the master the Sentinels know by this name.
    transport_options["master_name"] = os.environ["TICKWATCH_MASTER_NAME"]
app.conf.broker_transport_options = transport_options
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_send_sent_event=True,
    worker_send_task_events=True,
    broker_connection_retry_on_startup=True,
    result_expires=3600,
)


@app.task(name="tickwatch.add")
def add(x, y):
    return x + y


@app.task(name="tickwatch.fail")
def fail(reason="planned failure"):
    raise RuntimeError(reason)


@app.task(name="tickwatch.sleep")
def sleep(seconds):
    time.sleep(seconds)
    return seconds


@app.task(name="tickwatch.tick")
def tick(symbol, seq, price):
    """What a market-data pipeline task looks like: one tick in, a small record out."""
    return {"symbol": symbol, "seq": seq, "price": price}


@app.task(name="tickwatch.flaky", bind=True, max_retries=3)
def flaky(self):
    """Fails its first run and is retried at once: a task-retried event, then success."""
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return "second time lucky"


@app.task(name="tickwatch.reject", acks_late=True)
def reject():
    """Refuses its message without requeueing it: a task-rejected event."""
    raise Reject("not for us", requeue=False)
