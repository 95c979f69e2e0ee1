"""An emulator served from a thread of its own, for synchronous callers (a pytest fixture, a
script): no process to spawn, no interpreter to start, so it is ready in milliseconds.

Everything the emulator does still happens on its own event loop; `call` runs a function
there and hands back the result.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .config import Settings
from .runtime import Emulator

T = TypeVar("T")


class Background:
    def __init__(self, loader: Callable[[], Settings], environ: dict[str, str] | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self._loader = loader
        self._environ = environ
        self._bind = (host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="gce-metadata-emulator")
        self.emulator: Emulator | None = None
        self.port = 0

    @property
    def host(self) -> str:
        """host:port, as GCE_METADATA_HOST wants it."""
        return f"{self._bind[0]}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> Background:
        """Serve; raises what the emulator raised (a ConfigError, an OSError of the bind)."""
        self._thread.start()

        async def up() -> int:
            self.emulator = Emulator(self._loader, self._environ)
            return await self.emulator.listen(*self._bind)

        try:
            self.port = self.run(up())
        except BaseException:
            self.stop()
            raise
        return self

    def run(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the emulator's loop; its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a plain function on the emulator's loop (where its state lives)."""
        async def on_loop() -> T:
            return fn(*args)

        return self.run(on_loop())

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        if self.emulator is not None:
            self.run(self.emulator.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Background:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
