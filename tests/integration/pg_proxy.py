"""A TCP proxy to PostgreSQL in a process of its own, for the cluster tests (cluster_support.PgProxy).

    python -m tests.integration.pg_proxy LISTEN_PORT TARGET_HOST TARGET_PORT

SIGUSR1 cuts every connection and refuses new ones (PostgreSQL "down" for the nodes behind it); SIGUSR2
lets connections through again. Its own process, so the test's threads never slow the nodes' queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys


class Proxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.up = True
        self.writers: set[asyncio.StreamWriter] = set()

    def cut(self) -> None:
        self.up = False
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    def restore(self) -> None:
        self.up = True

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        self.writers -= {writer, up_writer}


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    sink.transport.abort()


async def main(port: int, host: str, target_port: int) -> None:
    proxy = Proxy((host, target_port))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, proxy.cut)
    loop.add_signal_handler(signal.SIGUSR2, proxy.restore)
    server = await asyncio.start_server(proxy.serve, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
