"""`python -m bot`: run the bot with long polling (webhook mode plugs in at `serve`)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from bot.app import ALLOWED_UPDATES, build_application, start_application
from studio.services import Studio
from studio.settings import Settings

logger = logging.getLogger(__name__)


async def serve(settings: Settings) -> None:
    """Poll until cancelled; the seam where a webhook server would take over."""
    studio = await Studio.open(settings)
    application = build_application(settings, studio)
    try:
        async with application:
            await start_application(application)
            assert application.updater is not None
            await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
            logger.info("bot polling")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            try:
                await stop.wait()
            finally:
                await application.updater.stop()
                await application.stop()
    finally:
        await studio.close()


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx is not used, but PTB logs every getUpdates at INFO through its own loggers.
    logging.getLogger("telegram.ext").setLevel(logging.WARNING)
    settings = Settings()
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
