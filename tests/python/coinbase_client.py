"""A collector of Coinbase Exchange's WebSocket feed, written as Coinbase's documentation
shows the exchange (Python `websockets`): it sends the documented subscribe message for
the matches and heartbeat channels of `--products` and prints every message it receives
(one JSON line on stdout) until the gateway closes the connection at the end of the run,
or `--seconds` have passed (exit code 1). With `--ca FILE` it connects over wss, as to
Coinbase itself, trusting that CA only; a certificate it does not trust ends it (exit
code 1, the reason on stderr).

    python coinbase_client.py --port 8765 --products BTC-USD,ETH-USD [--ca ca.pem]
"""

import argparse
import asyncio
import json
import ssl
import sys
import time

from gateway import connect


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--products", required=True)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--ca")
    args = parser.parse_args()
    products = args.products.split(",")
    deadline = time.time() + args.seconds
    if args.ca:
        url, context = f"wss://127.0.0.1:{args.port}", ssl.create_default_context(cafile=args.ca)
    else:
        url, context = f"ws://127.0.0.1:{args.port}", None
    socket = await connect(url, context, deadline)
    subscribe = {
        "type": "subscribe",
        "product_ids": products,
        "channels": ["heartbeat", {"name": "matches", "product_ids": products}],
    }
    await socket.send(json.dumps(subscribe))
    try:
        async with asyncio.timeout(max(0.0, deadline - time.time())):
            async for message in socket:
                print(message, flush=True)
    except TimeoutError:
        sys.exit("the gateway never closed the connection")


if __name__ == "__main__":
    asyncio.run(main())
