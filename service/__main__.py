"""`python -m service [--host HOST] [--port PORT]`: serve with uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from service.protocol import guarded_protocol
from service.settings import Settings

# On SIGTERM, requests in flight get this long to finish: inside the 10 s that `docker stop`
# waits before SIGKILL, with time left for the lifespan to stop the batchers.
GRACEFUL_SHUTDOWN_S = 7


def main(argv: list[str] | None = None) -> None:
    settings = Settings()
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument("--host", default=settings.host, help="default: %(default)s")
    parser.add_argument("--port", type=int, default=settings.port, help="default: %(default)s")
    args = parser.parse_args(argv)
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        http=guarded_protocol(settings),
        timeout_keep_alive=settings.keep_alive_s,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


if __name__ == "__main__":
    main()
