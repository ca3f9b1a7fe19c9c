#!/usr/bin/python3
"""python_echo.py [PORT] - a WebSocket echo server on Debian's python3-websockets (10.4, the
asyncio `websockets.serve` API), an independent peer for herd's integration tests.

Run it with /usr/bin/python3 (Debian's python3-* packages are not on other interpreters). Every
data message goes back with its type (str -> text, bytes -> binary); the library answers PINGs.
Listens on 127.0.0.1:PORT (argv, else $PORT, else an ephemeral port) and prints "ready <port>".
With $TLS_CERT and $TLS_KEY (PEM files) it serves wss:// instead, through Python's ssl module;
with $TLS_CLIENT_CA too, it requires a client certificate signed by that CA.
"""
import asyncio
import os
import signal
import ssl
import sys

import websockets


async def echo(ws, path=None):  # websockets < 10.1 passes the path, newer ones do not
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def main():
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "0"))
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    # No server-side keep-alive PINGs (tests are short; herd's own PINGs are what is measured),
    # no message size cap below what the tests send.
    tls = None
    if os.environ.get("TLS_CERT"):
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(os.environ["TLS_CERT"], os.environ.get("TLS_KEY"))
        if os.environ.get("TLS_CLIENT_CA"):  # require a client certificate signed by this CA
            tls.verify_mode = ssl.CERT_REQUIRED
            tls.load_verify_locations(os.environ["TLS_CLIENT_CA"])
    async with websockets.serve(echo, "127.0.0.1", port, ping_interval=None,
                                max_size=64 << 20, max_queue=None, ssl=tls) as server:
        bound = server.sockets[0].getsockname()[1]
        print(f"ready {bound}", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
