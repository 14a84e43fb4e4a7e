"""One gateway worker process: ``python -m interlink.gateway.worker OPTIONS_JSON``.

Started by :class:`interlink.gateway.workers.Supervisor`. It loads the estate itself, binds the
gateway port with SO_REUSEPORT beside its siblings, prints ``ready`` on stdout, reloads on
SIGHUP and stops gracefully on SIGTERM, SIGINT or when its stdin closes (its supervisor died).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from interlink.errors import InterlinkError
from interlink.estate.check import check_estate
from interlink.gateway.config import GatewayConfig, compile_gateway
from interlink.gateway.limits import Limits
from interlink.gateway.server import GatewayServer
from interlink.gateway.sockets import bind

log = logging.getLogger("interlink.gateway")


@dataclass(frozen=True)
class WorkerOptions:
    estate_dir: str
    listen: str  # HOST:PORT, the port already resolved by the supervisor
    limits: Limits
    log_level: str = "info"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerOptions:
        data = json.loads(text)
        return cls(data["estate_dir"], data["listen"], Limits(**data["limits"]), data["log_level"])


def load_config(options: WorkerOptions) -> GatewayConfig:
    result = check_estate(Path(options.estate_dir))
    if not result.ok:
        errors = [f for f in result.findings if f.severity == "error"]
        raise InterlinkError(f"the estate has {len(errors)} error(s)")
    return compile_gateway(result.estate, options.limits)


async def run(options: WorkerOptions) -> None:
    loop = asyncio.get_running_loop()
    config = await asyncio.to_thread(load_config, options)
    server = GatewayServer(config)
    await server.start(bind(options.listen, reuse_port=True))
    done = asyncio.Event()
    reloads: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        try:
            server.update(await asyncio.to_thread(load_config, options))
        except InterlinkError as exc:
            log.debug("worker keeps its revision: %s", exc.message)

    def on_hup() -> None:
        task = loop.create_task(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    watcher = loop.create_task(_until_stdin_closes(done))
    gc.freeze()  # the startup objects live as long as the process: spare the collector them
    print("ready", flush=True)
    await done.wait()
    watcher.cancel()
    await server.stop()


async def _until_stdin_closes(done: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    with contextlib.suppress(OSError, ValueError):
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while await reader.read(1024):
            pass
        done.set()


def main() -> None:
    options = WorkerOptions.from_json(sys.argv[1])
    logging.basicConfig(
        level=options.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
    )
    import uvloop

    try:
        uvloop.run(run(options))
    except InterlinkError as exc:
        print(f"interlink: gateway worker: {exc.message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
