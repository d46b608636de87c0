"""`python -m bot`: run the bot, on a webhook when WEBHOOK_URL is set, else with long polling."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable

from aiohttp import web

from bot.app import ALLOWED_UPDATES, build_application, start_application
from bot.context import StudioApplication
from bot.webhook import create_webhook_app, stop_application
from studio.domain import Studio
from studio.logs import configure_logging, configure_process
from studio.settings import Settings

logger = logging.getLogger(__name__)

# PTB's polling shutdown makes one last getUpdates with the long-poll read timeout (30 s), so a
# Bot API that does not answer would hold SIGTERM and SIGINT that long. That call only confirms
# updates already handed over, and Redis dedupe covers a redelivery: not worth waiting for.
POLL_STOP_S = 3.0
# aiohttp waits this long for webhook requests in flight; ours answer in milliseconds.
HTTP_SHUTDOWN_S = 2.0


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (by default: until SIGTERM or SIGINT)."""
    if stop is None:
        stop = stop_on_signals()
    studio = await Studio.open(settings)
    try:
        application = build_application(settings, studio)
        if settings.webhook_url:
            await _serve_webhook(application, settings, stop)
        else:
            await _poll(application, stop)
    finally:
        await studio.close()


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _poll(application: StudioApplication, stop: asyncio.Event) -> None:
    try:
        if not await _unless_stopped(start_application(application), stop):
            return
        assert application.updater is not None
        await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        logger.info("bot polling")
        await stop.wait()
        logger.info("stopping")
        try:
            await asyncio.wait_for(application.updater.stop(), POLL_STOP_S)
        except TimeoutError:
            logger.warning("Bot API did not confirm the last updates; they may come again")
    finally:
        await stop_application(application)


async def _serve_webhook(
    application: StudioApplication, settings: Settings, stop: asyncio.Event
) -> None:
    # The access log is off: it would cost more than handling a text update does.
    runner = web.AppRunner(
        create_webhook_app(application, settings),
        shutdown_timeout=HTTP_SHUTDOWN_S,
        access_log=None,
    )
    try:
        # setup() runs the app's startup: initialise, command menus, setWebhook.
        if not await _unless_stopped(runner.setup(), stop):
            return
        site = web.TCPSite(runner, settings.webhook_listen, settings.webhook_port)
        await site.start()
        logger.info("bot serving the webhook on port %s", settings.webhook_port)
        await stop.wait()
        logger.info("stopping")
    finally:
        # Closes the port first, then the app's cleanup stops the Application.
        await runner.cleanup()
        if application.running:  # setup() was cancelled before its cleanup was registered
            await stop_application(application)


async def _unless_stopped(step: Awaitable[None], stop: asyncio.Event) -> bool:
    """Run a startup step, abandoning it if `stop` is set first; True if it completed."""
    task = asyncio.ensure_future(step)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if task.done():
        task.result()
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    logger.info("stopped during startup")
    return False


def run(settings: Settings) -> None:
    """Run `serve` on uvloop when it is installed (several times faster here), else asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(settings))
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(settings))


def main() -> None:
    configure_process()
    settings = Settings()
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), settings)
    run(settings)


if __name__ == "__main__":
    main()
