#!/usr/bin/env python3
"""Echo servers on CPython's asyncio and on uvloop, the Python peers of the echo benchmark
(Benchmarks/python/echo_bench.py; docs/benchmarks.md, "Echo server").

    python echo_server.py --impl uvloop-streams --port 25000 [--host 127.0.0.1]

The two styles are those of uvloop's own benchmark server (uvloop/examples/bench/echoserver.py):
  streams    asyncio.start_server; per connection `data = await reader.read(1000000)`, then
             `writer.write(data)` and `await writer.drain()`, until EOF.
  protocols  loop.create_server with an asyncio.Protocol whose data_received calls
             transport.write(data).
Implementations: asyncio-streams, asyncio-protocols (CPython's default event loop),
uvloop-streams, uvloop-protocols (the same code on uvloop's loop). Every accepted socket gets
TCP_NODELAY, as in uvloop's server. Nothing is printed while it serves; SIGTERM or SIGINT stops it
(exit status 0). Exit status 2 on bad usage, or when uvloop is asked for and cannot be imported.
"""

import argparse
import asyncio
import signal
import socket
import sys

IMPLS = ["asyncio-streams", "asyncio-protocols", "uvloop-streams", "uvloop-protocols"]


def nodelay(sock):
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


async def echo_streams(reader, writer):
    nodelay(writer.get_extra_info("socket"))
    try:
        while True:
            data = await reader.read(1000000)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        nodelay(transport.get_extra_info("socket"))

    def connection_lost(self, exc):
        self.transport = None

    def data_received(self, data):
        self.transport.write(data)


async def serve(style, host, port):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    if style == "streams":
        server = await asyncio.start_server(echo_streams, host, port, reuse_address=True,
                                            backlog=1024)
    else:
        server = await loop.create_server(EchoProtocol, host, port, reuse_address=True,
                                          backlog=1024)
    async with server:
        await stop


def main(argv=None):
    ap = argparse.ArgumentParser(prog="echo_server.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impl", required=True, choices=IMPLS)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args(argv)
    if not 0 <= args.port <= 65535:
        ap.error(f"--port must be 0 to 65535, not {args.port}")
    loop_name, style = args.impl.split("-")
    if loop_name == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("echo_server.py: uvloop is not installed for " + sys.executable, file=sys.stderr)
            return 2
        new_loop = uvloop.new_event_loop
    else:
        new_loop = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=new_loop) as runner:
        runner.run(serve(style, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
