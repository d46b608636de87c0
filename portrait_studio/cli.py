"""`portrait-studio`: every role of the service behind one command line.

    portrait-studio bot [--polling | --webhook]  the bot (default: webhook iff WEBHOOK_URL is set)
    portrait-studio worker KIND [--burst]        an arq worker: intake, render (or delivery)
    portrait-studio all [--procfile FILE]        every role, each restarted when it dies
    portrait-studio rewrap-keys                  re-wrap every data key under MASTER_KEY

Settings come from the environment (and `.env`), as documented in `.env.example`. Role modules
are imported inside the commands, so the bot never loads the workers' model libraries.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from portrait_studio.supervisor import Role, Supervisor, load_procfile, python_argv
from studio.logs import configure_logging, configure_process
from studio.settings import Settings

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = "portrait-studio"
# `portrait-studio all` without --procfile: every role, on one machine.
DEFAULT_ROLES: tuple[Role, ...] = (
    Role("bot", python_argv("-m", "portrait_studio", "bot")),
    Role("intake", python_argv("-m", "portrait_studio", "worker", "intake")),
    Role("render", python_argv("-m", "portrait_studio", "worker", "render")),
    Role("delivery", python_argv("-m", "portrait_studio", "worker", "delivery")),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    bot = sub.add_parser("bot", help="the Telegram bot")
    mode = bot.add_mutually_exclusive_group()
    mode.add_argument("--polling", action="store_true", help="long polling (ignore WEBHOOK_URL)")
    mode.add_argument("--webhook", action="store_true", help="webhook server (needs WEBHOOK_URL)")
    worker = sub.add_parser("worker", help="an arq worker")
    worker.add_argument("kind", help="intake or render (worker.py::WORKERS)")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    run_all = sub.add_parser("all", help="every role, supervised")
    run_all.add_argument("--procfile", type=Path, help="roles to run (default: bot + workers)")
    run_all.add_argument("--backoff", type=float, default=1.0, help="first restart delay, s")
    run_all.add_argument("--backoff-max", type=float, default=60.0, help="longest delay, s")
    sub.add_parser("rewrap-keys", help="re-wrap every user's data key under MASTER_KEY")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_process()  # before the first model library is imported
    if args.command == "all":
        return run_all(args.procfile, args.backoff, args.backoff_max)
    settings = Settings()
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), settings)
    if args.command == "bot":
        return run_bot(settings, polling=args.polling, webhook=args.webhook)
    if args.command == "worker":
        return run_worker(settings, args.kind, burst=args.burst)
    if args.command == "rewrap-keys":
        return rewrap_keys(settings)
    raise AssertionError(args.command)


def run_bot(settings: Settings, *, polling: bool, webhook: bool) -> int:
    from bot.__main__ import run

    if polling:
        settings = settings.model_copy(update={"webhook_url": ""})
    elif webhook and not settings.webhook_url:
        print(f"{PROGRAM} bot --webhook needs WEBHOOK_URL and WEBHOOK_SECRET", file=sys.stderr)
        return 2
    run(settings)
    return 0


def run_worker(settings: Settings, kind: str, *, burst: bool) -> int:
    from worker import run_worker as run

    run(kind, settings, burst=burst)
    return 0


def rewrap_keys(settings: Settings) -> int:
    import asyncio

    from studio.key_rotation import rewrap_all

    report = asyncio.run(rewrap_all(settings))
    print(report.summary())
    return 0 if report.failed == 0 else 1


def run_all(procfile: Path | None, backoff_s: float, backoff_max_s: float) -> int:
    """Every role under the supervisor, with a local Redis when REDIS_URL is not set."""
    from portrait_studio.local_redis import start_local_redis

    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    env = dict(os.environ)
    if procfile is None:
        if not env.get("TELEGRAM_BOT_TOKEN"):
            print("TELEGRAM_BOT_TOKEN is not set. For a local run without Telegram: make demo")
            return 2
        env.setdefault("MODE", "prod")
        roles = list(DEFAULT_ROLES)
    else:
        roles = [resolve(role) for role in load_procfile(procfile)]
    env.setdefault("LOG_LEVEL", "INFO")
    redis = None
    if "REDIS_URL" not in env and "REDIS_SENTINELS" not in env:
        redis = start_local_redis(ROOT / ".redis-data")
        env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
    roles = with_health_ports(roles, int(env.get("HEALTH_PORT", "0") or 0))
    try:
        return Supervisor(
            roles, env=env, cwd=ROOT, backoff_s=backoff_s, backoff_max_s=backoff_max_s
        ).run()
    finally:
        if redis is not None:
            redis.terminate()
            redis.wait(timeout=30)


def resolve(role: Role) -> Role:
    """`portrait-studio ...` in a Procfile runs with this interpreter (no PATH lookup)."""
    if role.argv and role.argv[0] == PROGRAM:
        return Role(role.name, python_argv("-m", "portrait_studio", *role.argv[1:]))
    return role


def with_health_ports(roles: Sequence[Role], base: int) -> list[Role]:
    """One machine, one port each: HEALTH_PORT=P gives the roles P, P+1, ... in order."""
    if not base:
        return list(roles)
    return [
        Role(role.name, role.argv, (*role.env, ("HEALTH_PORT", str(base + i))))
        for i, role in enumerate(roles)
    ]
