"""`python -m finance_sim --port 8090 --db PATH`"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from finance_sim.app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="finance_sim", description="财政预算管理一体化系统模拟器")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--db", type=Path, default=Path(".local/state/finance_sim.sqlite"))
    parser.add_argument(
        "--timeout-delay",
        type=float,
        default=10.0,
        help="seconds a `timeout` fault waits before applying, unless the fault says otherwise",
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")

    app = create_app(args.db, timeout_delay_seconds=args.timeout_delay)
    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level))
    # The server's live connections let a `drop_after_apply` fault close one on purpose.
    app.state.connections = server.server_state.connections
    server.run()


if __name__ == "__main__":
    main()
