"""A real HTTP server on 127.0.0.1 serving feeds for tests, in its own thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

Handler = Callable[[web.Request], web.StreamResponse]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    peer: tuple[str, int] | None = None  # the client's address: the same one means a reused connection


@dataclass
class FeedServer:
    """Serve `routes[path](request)`; every request is recorded in `seen`."""

    routes: dict[str, Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def __enter__(self) -> FeedServer:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(Seen(request.path, dict(request.headers), request.transport.get_extra_info("peername")))
        handler = self.routes.get(request.path)
        if handler is None:
            return web.Response(status=404, text="not found")
        result = handler(request)
        return await result if asyncio.iscoroutine(result) else result


def respond(body: bytes = b"", status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    return lambda request: web.Response(body=body, status=status, headers=headers or {})
