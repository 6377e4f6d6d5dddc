"""Bring the platform up as local processes and keep it running (see scripts/run)."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

from mianshen_shared.config import REPO_ROOT
from mianshen_shared.stack import SERVICES, LocalStack

PG = "postgresql+asyncpg://postgres@127.0.0.1:55432/{}"
REDIS = "redis://127.0.0.1:56379/0"


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demo", action="store_true", help="push sample department data and walk it to payment")
    parser.add_argument("--postgres", action="store_true", help="use the project's PostgreSQL instead of SQLite")
    parser.add_argument("--state-dir", type=Path, default=REPO_ROOT / ".local" / "state")
    args = parser.parse_args()

    urls = {svc: PG.format(svc.replace("-", "_")) for svc in SERVICES} if args.postgres else {}
    # The demo walks sample data to payment within a minute, so its 公示 lasts zero
    # working days; without --demo every policy's own notice period applies.
    extra_env = {"MIANSHEN_NOTICE_WORKING_DAYS_OVERRIDE": "0"} if args.demo else {}
    # Started by scripts/run (deploy/local/redis/redis.sh): the gateway's shared rate limits.
    extra_env["MIANSHEN_RATE_LIMIT_REDIS_URL"] = REDIS
    stack = LocalStack(state_dir=args.state_dir, database_urls=urls, extra_env=extra_env)
    started = time.monotonic()
    # Ctrl-C and SIGTERM end the run wherever it is — starting, demo or waiting —
    # and the finally clause stops every process it started.
    signal.signal(signal.SIGTERM, _interrupt)
    print(
        "启动中：finance-sim、frontend-sim、policy-catalog、eligibility、confirmation、credit-check、payment、gateway",
        flush=True,
    )
    try:
        try:
            stack.start()
            stack.seed_policies()
        except (RuntimeError, TimeoutError, subprocess.CalledProcessError) as exc:
            print(f"启动失败：{exc}", file=sys.stderr)
            return 1
        gateway = stack.url("gateway")
        print(f"\n平台已就绪（{time.monotonic() - started:.1f} 秒）", flush=True)
        print(f"  网关 gateway:        {gateway}")
        print(f"  接口文档 API docs:    {gateway}/docs")
        print(f"  财政模拟 finance-sim: {stack.url('finance-sim')}/docs")
        print(f"  前端消息模拟 frontend-sim: {stack.url('frontend-sim')}/_sim/notifications")
        print(f"  日志 logs:           {args.state_dir / 'logs'}")
        print("  推送示例数据: scripts/demo   （或启动时加 --demo）")
        print("按 Ctrl-C 停止。", flush=True)
        if args.demo:
            subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "demo.py"), "--gateway", gateway], check=False)
        while True:
            for name, proc in stack.procs.items():
                if proc.popen is not None and proc.popen.poll() is not None:
                    print(f"{name} 已退出（{proc.popen.returncode}），日志：{proc.log_path}", file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        print("正在停止 …", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
