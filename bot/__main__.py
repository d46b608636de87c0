"""`python -m bot` (or `portrait-studio bot`): the bot, on a webhook when WEBHOOK_URL is set,
else with long polling; its operator port (/healthz, /readyz, /metrics) on HEALTH_PORT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable

from aiohttp import web

from bot.app import ALLOWED_UPDATES, build_application, start_application
from bot.context import StudioApplication
from bot.polling import Poller
from bot.update_pipeline import UpdatePipeline
from bot.webhook import create_webhook_app, stop_application
from studio.domain import Studio
from studio.gc_tuning import tune_collector
from studio.logs import configure_logging, configure_process
from studio.metrics_server import HealthServer
from studio.redis_config import check_redis_config
from studio.settings import Settings

logger = logging.getLogger(__name__)

# aiohttp waits this long for webhook requests in flight; ours answer in milliseconds.
HTTP_SHUTDOWN_S = 2.0


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (by default: until SIGTERM or SIGINT)."""
    if stop is None:
        stop = stop_on_signals()
    studio = await Studio.open(settings)
    try:
        await check_redis_config(studio.redis, settings.mode)
        application = build_application(settings, studio)
        tune_collector()  # the startup heap is built: frozen out of every collection
        async with operator_port(settings, studio, application):
            if settings.webhook_url:
                await _serve_webhook(application, settings, stop)
            else:
                await _poll(application, studio, stop)
    finally:
        await studio.close()


@contextlib.asynccontextmanager
async def operator_port(
    settings: Settings, studio: Studio, application: StudioApplication
) -> AsyncIterator[None]:
    """/healthz, /readyz and /metrics on HEALTH_PORT (in polling mode too); 0: none."""
    if not settings.health_port:
        yield
        return

    async def ready() -> dict[str, bool]:
        return {"bot": application.running}

    server = HealthServer(studio.redis, ready, settings.health_listen, settings.health_port)
    await server.start()
    try:
        yield
    finally:
        await server.stop()


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _poll(application: StudioApplication, studio: Studio, stop: asyncio.Event) -> None:
    pipeline = UpdatePipeline(application, studio)
    poller = Poller(pipeline, ALLOWED_UPDATES)
    try:
        if not await _unless_stopped(start_application(application), stop):
            return
        await pipeline.start()
        await poller.start()
        logger.info("bot polling")
        await stop.wait()
        logger.info("stopping")
        # Fetch nothing more, confirm what was taken, then finish or give back the rest.
        await poller.stop()
    finally:
        await stop_application(application, pipeline)


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
