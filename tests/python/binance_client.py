"""A Binance collector as users write one, with the official binance-connector (PyPI),
pointed at a tickwatch gateway and unchanged but for its address: it reads
GET /api/v3/exchangeInfo, subscribes to the trade and aggTrade streams of every symbol
listed, pings the server, and prints each message it receives (one JSON line on
stdout, and `{"pong": true}` for the answer to its ping) until the gateway closes the
connection at the end of the run, or `--seconds` have passed (exit code 1).

    python binance_client.py --port 8765 [--combined]
"""

import argparse
import json
import sys
import threading
import time

from binance.spot import Spot
from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--combined", action="store_true")
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    base = f"127.0.0.1:{args.port}"

    deadline = time.time() + args.seconds
    while True:
        try:
            info = Spot(base_url=f"http://{base}").exchange_info()
            break
        except Exception as e:  # the gateway may not listen yet
            if time.time() > deadline:
                sys.exit(f"exchangeInfo never answered: {e}")
            time.sleep(0.1)
    symbols = [s["symbol"] for s in info["symbols"] if s["status"] == "TRADING"]
    print(json.dumps({"exchangeInfo": info}), flush=True)

    closed = threading.Event()
    lock = threading.Lock()

    def on_message(_, message):
        with lock:
            print(message, flush=True)

    def on_pong(_):
        with lock:
            print(json.dumps({"pong": True}), flush=True)

    def on_close(_, *error):
        if error:
            print(json.dumps({"error": str(error[0])}), flush=True)
        closed.set()

    client = SpotWebsocketStreamClient(
        stream_url=f"ws://{base}",
        on_message=on_message,
        on_pong=on_pong,
        on_close=on_close,
        on_error=on_close,
        is_combined=args.combined,
    )
    for i, symbol in enumerate(symbols):
        client.trade(symbol=symbol, id=2 * i + 1)
        client.agg_trade(symbol=symbol, id=2 * i + 2)
    client.list_subscribe(id=1000)
    client.ping()
    if not closed.wait(max(0.0, deadline - time.time())):
        sys.exit("the gateway never closed the connection")


if __name__ == "__main__":
    main()
