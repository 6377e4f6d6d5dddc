"""`python -m frontend_sim --port 8091 --db PATH [--secret S]`"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import uvicorn

from frontend_sim.app import DEVELOPMENT_SECRET, create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="frontend_sim", description="亲清在线、郑好办消息接收模拟器")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--db", type=Path, default=Path(".local/state/frontend_sim.sqlite"))
    parser.add_argument(
        "--secret",
        default=os.environ.get("MIANSHEN_NOTIFY_SECRET", DEVELOPMENT_SECRET),
        help="the HMAC key shared with the platform (default: MIANSHEN_NOTIFY_SECRET or the development secret)",
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(args.db, secret=args.secret)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
