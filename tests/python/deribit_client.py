"""A collector of Deribit's JSON-RPC API over WebSocket, written as Deribit's
documentation shows the exchange (Python `websockets`). For each `--api NAME=URL` it
asks `public/set_heartbeat` (10 s) and `public/get_instruments` (`--currency`, `kind`
from the name: option or future), subscribes to `ticker.<instrument>.100ms` of every
option listed or `trades.<instrument>.raw` of every future, answers each `test_request`
heartbeat with `public/test`, and prints every message it receives as one JSON line
`{"api": NAME, "message": ...}` until the gateway closes the connection at the end of the
run, or `--seconds` have passed (exit code 1). Before that it reads
GET /api/v2/public/get_instruments over HTTP from the first API's port
(`{"api": "rest", ...}`).
With `--ca FILE` it connects over TLS trusting that CA only.

    python deribit_client.py --api option=ws://127.0.0.1:9445/ws/api/v2 \
        --api future=ws://127.0.0.1:9446/ws/api/v2 --currency BTC
"""

import argparse
import asyncio
import json
import ssl
import sys
import time
import urllib.request

from gateway import connect


def emit(api, message):
    print(json.dumps({"api": api, "message": message}), flush=True)


async def collect(kind, url, currency, context, deadline, first):
    socket = await connect(url, context, deadline)
    request_id = 0

    async def call(method, params):
        nonlocal request_id
        request_id += 1
        await socket.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}))
        return request_id

    if first:
        # The REST endpoint on the same port, as collectors read it before subscribing.
        rest = url.replace("wss://", "https://").replace("ws://", "http://").replace("/ws/api/v2", "")
        query = f"{rest}/api/v2/public/get_instruments?currency={currency}&kind={kind}"
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(query, context=context).read())
        emit("rest", json.loads(body))
    await call("public/set_heartbeat", {"interval": 10})
    listing = await call("public/get_instruments", {"currency": currency, "kind": kind})
    async for raw in socket:
        message = json.loads(raw)
        emit(kind, message)
        if message.get("id") == listing:
            names = [i["instrument_name"] for i in message["result"]]
            pattern = "ticker.{}.100ms" if kind == "option" else "trades.{}.raw"
            await call("public/subscribe", {"channels": [pattern.format(n) for n in names]})
        elif message.get("method") == "heartbeat" and message["params"]["type"] == "test_request":
            await call("public/test", {})


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", action="append", required=True, help="KIND=URL, KIND option or future")
    parser.add_argument("--currency", default="any")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--ca")
    args = parser.parse_args()
    apis = [a.split("=", 1) for a in args.api]
    context = ssl.create_default_context(cafile=args.ca) if args.ca else None
    deadline = time.time() + args.seconds
    try:
        async with asyncio.timeout(args.seconds):
            collectors = [
                collect(kind, url, args.currency, context, deadline, i == 0) for i, (kind, url) in enumerate(apis)
            ]
            await asyncio.gather(*collectors)
    except TimeoutError:
        sys.exit("the gateway never closed the connection")


if __name__ == "__main__":
    asyncio.run(main())
