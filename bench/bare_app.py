"""The baseline: a bare aiohttp app that answers every path with a constant body (the same
bytes the emulator serves for that path, read from the JSON file named by argv[1]).

With --raw it is aiohttp's low-level server instead of an Application with a router: what the
emulator itself runs on, printed beside the targets so the comparison hides nothing."""

import asyncio
import json
import sys

from aiohttp import web

BODIES: dict[str, bytes] = {}


async def constant(request: web.Request) -> web.Response:
    return web.Response(body=BODIES.get(request.path_qs, b"ok"),
                        headers={"Content-Type": "application/text"})


async def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--raw"]
    if args:
        with open(args[0]) as f:
            BODIES.update({k: v.encode() for k, v in json.load(f).items()})
    if "--raw" in sys.argv:
        runner = web.ServerRunner(web.Server(constant), access_log=None)
    else:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", constant)
        runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"bare app on 127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
