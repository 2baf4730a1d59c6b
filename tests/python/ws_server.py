"""An independent WebSocket gateway for the tickwatch tests (Python `websockets`, not ours).

Each client that connects (and, unless --no-subscribe, sends any first message) gets
--count ticks shaped like Binance's trade stream, one every --interval-ms, whose exchange
time "T" lies --lag-ms in the past; then the server keeps the connection open, silent.

usage: ws_server.py --port P [--count N] [--interval-ms MS] [--lag-ms MS]
                    [--no-subscribe] [--auth TEXT] [--require-header NAME=VALUE]
                    [--cert PEM --key PEM [--client-ca PEM]] [--giant-first BYTES]

With --client-ca, only clients showing a certificate that CA signed get through the
TLS handshake. With --require-header, an upgrade without that header value is refused
(HTTP 401). With --auth, a client's first message must be TEXT (else the connection is
closed with 4001) and its second one is the subscription. With --giant-first, the
first client to connect gets one message of that many bytes and nothing else.
"""
import argparse
import asyncio
import http
import json
import ssl
import time

from websockets.asyncio.server import serve

args_parser = argparse.ArgumentParser()
args_parser.add_argument("--port", type=int, required=True)
args_parser.add_argument("--count", type=int, default=100)
args_parser.add_argument("--interval-ms", type=float, default=5)
args_parser.add_argument("--lag-ms", type=float, default=0)
args_parser.add_argument("--no-subscribe", action="store_true")
args_parser.add_argument("--auth")
args_parser.add_argument("--require-header")
args_parser.add_argument("--cert")
args_parser.add_argument("--key")
args_parser.add_argument("--client-ca")
args_parser.add_argument("--giant-first", type=int, default=0)
args = args_parser.parse_args()
connections = 0


async def gateway(websocket):
    global connections
    connections += 1
    if args.giant_first and connections == 1:
        # A hostile first connection: one message of --giant-first bytes, then nothing.
        await websocket.send("x" * args.giant_first)
        await websocket.wait_closed()
        return
    if args.auth is not None and await websocket.recv() != args.auth:
        await websocket.close(4001, "authenticate first")
        return
    if not args.no_subscribe:
        await websocket.recv()
    for seq in range(1, args.count + 1):
        tick = {"e": "trade", "s": "BTCUSDT", "t": seq, "p": "42000.10", "q": "0.5",
                "T": int(time.time() * 1000 - args.lag_ms)}
        await websocket.send(json.dumps(tick))
        await asyncio.sleep(args.interval_ms / 1000)
    await websocket.wait_closed()


def check_header(connection, request):
    if args.require_header:
        name, value = args.require_header.split("=", 1)
        if request.headers.get(name) != value:
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "missing or wrong " + name + "\n")
    return None


async def main():
    context = None
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        if args.client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(args.client_ca)
    async with serve(gateway, "127.0.0.1", args.port, ssl=context, process_request=check_header) as server:
        print("listening", flush=True)
        await server.serve_forever()


asyncio.run(main())
