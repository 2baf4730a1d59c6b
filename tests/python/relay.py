"""A reference platform for the observer tests: a relay as the seeds' socket gateways are
built (Python `websockets` and `redis`), subscribing to one Redis pub/sub channel and
fanning every message out to its WebSocket clients, with faults it can plant.

A --channel with *, ? or [ is a pattern (PSUBSCRIBE). A client that sends
{"op": "subscribe", "symbols": [...]} gets only those symbols' messages
(read from the message's "symbol"); one that sends nothing gets every message.

usage: relay.py --port P --redis-url URL --channel NAME --stats FILE
                [--drop-every N] [--duplicate-every N] [--delay-ms MS]

Faults count messages from Redis: the Nth, 2Nth, ... is dropped (sent to no client) or
sent twice to every client; --delay-ms holds each message that long before it goes out.
FILE gets the relay's own counts after every message from Redis is dealt with, as JSON:
messages from Redis, and deliveries sent, dropped and duplicated (a delivery is one
message to one client). SIGUSR1 freezes the relay between messages: it finishes the
deliveries in hand, writes FILE and sends itself SIGSTOP, so FILE then counts exactly what
its clients got. Stall the relay with SIGSTOP, kill it with SIGKILL: both are the test kit's.
"""
import argparse
import asyncio
import json
import os
import signal

import redis.asyncio as redis
from websockets.asyncio.server import serve

args_parser = argparse.ArgumentParser()
args_parser.add_argument("--port", type=int, required=True)
args_parser.add_argument("--redis-url", required=True)
args_parser.add_argument("--channel", required=True)
args_parser.add_argument("--stats", required=True)
args_parser.add_argument("--drop-every", type=int, default=0)
args_parser.add_argument("--duplicate-every", type=int, default=0)
args_parser.add_argument("--delay-ms", type=float, default=0)
args = args_parser.parse_args()

clients = {}  # websocket -> set of symbols, or None for every symbol
stats = {"received": 0, "sent": 0, "dropped": 0, "duplicated": 0}
delivering = 0  # deliveries in hand; a freeze waits for them
freeze_requested = False


def wanting(symbol):
    return [ws for ws, symbols in clients.items() if symbols is None or symbol in symbols]


async def gateway(websocket):
    clients[websocket] = None
    try:
        async for text in websocket:
            request = json.loads(text)
            if request.get("op") == "subscribe":
                clients[websocket] = (clients[websocket] or set()) | set(request["symbols"])
    finally:
        del clients[websocket]


def write_stats():
    with open(args.stats + ".tmp", "w") as f:
        json.dump(stats, f)
    os.replace(args.stats + ".tmp", args.stats)


def request_freeze():
    global freeze_requested
    freeze_requested = True
    if delivering == 0:
        freeze()


def freeze():
    global freeze_requested
    freeze_requested = False
    write_stats()
    os.kill(os.getpid(), signal.SIGSTOP)


async def deliver(payload, symbol, copies):
    global delivering
    delivering += 1
    try:
        if args.delay_ms:
            await asyncio.sleep(args.delay_ms / 1000)
        for ws in wanting(symbol):
            for _ in range(copies):
                try:
                    await ws.send(payload)
                    stats["sent"] += 1
                except Exception:
                    pass
    finally:
        delivering -= 1
    write_stats()
    if freeze_requested and delivering == 0:
        freeze()


async def relay():
    client = redis.from_url(args.redis_url)
    pubsub = client.pubsub()
    if any(c in args.channel for c in "*?["):
        await pubsub.psubscribe(args.channel)
    else:
        await pubsub.subscribe(args.channel)
    async for message in pubsub.listen():
        if message["type"] not in ("message", "pmessage"):
            continue
        stats["received"] += 1
        n = stats["received"]
        payload = message["data"].decode()
        symbol = json.loads(payload).get("symbol")
        if args.drop_every and n % args.drop_every == 0:
            stats["dropped"] += len(wanting(symbol))
            write_stats()
            continue
        copies = 2 if args.duplicate_every and n % args.duplicate_every == 0 else 1
        stats["duplicated"] += (copies - 1) * len(wanting(symbol))
        if args.delay_ms:
            asyncio.get_running_loop().create_task(deliver(payload, symbol, copies))
        else:
            await deliver(payload, symbol, copies)


async def main():
    write_stats()
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, request_freeze)
    async with serve(gateway, "127.0.0.1", args.port):
        await relay()


asyncio.run(main())
