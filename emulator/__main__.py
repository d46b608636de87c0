"""Run the emulator standalone: python -m emulator --host 127.0.0.1 --port 8081."""

from __future__ import annotations

import argparse
import logging

from aiohttp import web

from emulator.app import EmulatorConfig, create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Telegram Bot API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=None, help="accept only this bot token")
    parser.add_argument("--chat-rate", type=float, default=1.0)
    parser.add_argument("--chat-burst", type=float, default=3.0)
    parser.add_argument("--global-rate", type=float, default=30.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = EmulatorConfig(
        token=args.token,
        chat_rate=args.chat_rate,
        chat_burst=args.chat_burst,
        global_rate=args.global_rate,
        global_burst=args.global_rate,
    )
    # aiohttp's access log would print request paths, and those carry the bot token.
    web.run_app(create_app(config), host=args.host, port=args.port, access_log=None)


if __name__ == "__main__":
    main()
