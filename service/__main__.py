"""`python -m service [--host HOST] [--port PORT]`: serve with uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from service.settings import Settings


def main(argv: list[str] | None = None) -> None:
    settings = Settings()
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument("--host", default=settings.host, help="default: %(default)s")
    parser.add_argument("--port", type=int, default=settings.port, help="default: %(default)s")
    args = parser.parse_args(argv)
    uvicorn.run("service.app:create_app", factory=True, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
