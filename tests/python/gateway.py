"""What the exchange collectors share: connecting to a gateway that may not listen yet."""

import asyncio
import ssl
import sys
import time

import websockets


async def connect(url, context, deadline):
    """The WebSocket at `url` (TLS with `context` for wss), retried until it listens or
    `deadline` (time.time()) passes; an untrusted certificate ends the program at once."""
    while True:
        try:
            return await websockets.connect(url, ssl=context, max_size=None)
        except ssl.SSLError as e:
            sys.exit(f"TLS: {e}")
        except OSError as e:  # the gateway may not listen yet
            if time.time() > deadline:
                sys.exit(f"{url}: the gateway never answered: {e}")
            await asyncio.sleep(0.1)
