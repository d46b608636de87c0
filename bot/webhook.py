"""Webhook mode: an aiohttp server that hands Telegram's POSTs to the PTB Application."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from aiohttp import web
from redis.exceptions import RedisError
from telegram import Update

from bot.app import ALLOWED_UPDATES, start_application, stop_publishing_profile
from bot.context import STUDIO_KEY, StudioApplication
from bot.update_pipeline import Offer, UpdatePipeline
from studio.domain import Studio
from studio.settings import Settings

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_PATH = "/healthz"
# Telegram opens at most 100 connections per bot; 40 is its default.
MAX_CONNECTIONS = 40
# Taken updates get this long to finish on shutdown; past it they are given back to Redis
# (bot/update_store.py), for the next start or another replica. Kept well under the 30 s a
# supervisor usually waits before SIGKILL.
STOP_GRACE_S = 10.0
HEALTH_TIMEOUT_S = 2.0

APPLICATION = web.AppKey("application", StudioApplication)
STUDIO = web.AppKey("studio", Studio)
SECRET = web.AppKey("secret", bytes)
WEBHOOK_URL = web.AppKey("webhook_url", str)
PIPELINE = web.AppKey("pipeline", UpdatePipeline)
FULL_HOLD_S = web.AppKey("full_hold_s", float)
RETRY_LATER = {"Retry-After": "1"}
# Every update of the payment lane carries one of these keys. While the queue is full anything
# else is refused before it is parsed; a text that happens to read like one is parsed and then
# refused as usual.
PAYMENT_MARKS = (b'"pre_checkout_query"', b'"successful_payment"')


def create_webhook_app(application: StudioApplication, settings: Settings) -> web.Application:
    """The webhook server for `application`; starting it starts the bot and sets the webhook."""
    if not settings.webhook_url:
        raise ValueError("webhook mode needs WEBHOOK_URL")
    secret = settings.webhook_secret.get_secret_value()
    if not secret:
        raise ValueError("webhook mode needs WEBHOOK_SECRET")
    # Any replica serves any update: the Application keeps no state of its own, and the
    # duplicate-update guard in bot/app.py makes a redelivery to a second replica harmless.
    app = web.Application()
    app[APPLICATION] = application
    app[STUDIO] = application.bot_data[STUDIO_KEY]
    app[SECRET] = secret.encode()
    app[WEBHOOK_URL] = settings.webhook_url
    app[PIPELINE] = UpdatePipeline(application, app[STUDIO])
    app[FULL_HOLD_S] = settings.webhook_full_hold_s
    app.router.add_post(webhook_path(settings.webhook_url), receive_update)
    app.router.add_get(HEALTH_PATH, health)
    app.router.add_get("/readyz", health)  # the same checks: running, Redis answers
    app.cleanup_ctx.append(run_bot)
    return app


def webhook_path(url: str) -> str:
    """The local path Telegram (or the load balancer) posts to: the path of the public URL."""
    return urlsplit(url).path or "/"


async def receive_update(request: web.Request) -> web.Response:
    """Answer 200 once the update is taken (persisted) or handled; 503 while full or stopping.

    A payment is answered only once handled, so that a crash or a failing handler makes
    Telegram deliver it again (its claim was released) rather than losing it; it goes ahead of
    every other update. Anything else is answered as soon as it is safely in Redis.
    """
    given = request.headers.get(SECRET_HEADER, "").encode()
    if not hmac.compare_digest(given, request.app[SECRET]):
        logger.warning("webhook call without the right secret token from %s", request.remote)
        raise web.HTTPForbidden()
    application = request.app[APPLICATION]
    pipeline = request.app[PIPELINE]
    if not application.running or not pipeline.accepting:
        # Stopping: a 503 makes Telegram retry, and the retry lands on a live replica.
        raise web.HTTPServiceUnavailable(headers=RETRY_LATER)
    body = await request.read()
    # Backpressure before any parsing: held for room first (WEBHOOK_FULL_HOLD_S), then a 503.
    # A refusal must cost next to nothing: with the parse first, and at once, Telegram's retries
    # ate the capacity the bot needed to catch up, and an overload cut throughput by half
    # (bench/load.py).
    if (
        pipeline.full()
        and not any(mark in body for mark in PAYMENT_MARKS)
        and not await pipeline.wait_for_room(request.app[FULL_HOLD_S])
    ):
        raise web.HTTPServiceUnavailable(headers=RETRY_LATER)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise web.HTTPBadRequest(text="body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise web.HTTPBadRequest(text="body is not an update")
    try:
        update = Update.de_json(data, application.bot)
    except RecursionError:
        raise web.HTTPBadRequest(text="update nested too deeply") from None
    except (TypeError, ValueError, KeyError, AttributeError):
        # It came with our secret, so it is Telegram's and a retry would fail the same way;
        # Telegram holds back later updates while one keeps failing, so drop it with a 200.
        logger.exception("webhook update %s could not be parsed; dropped", data["update_id"])
        return web.Response()
    try:
        offer = await pipeline.offer(update, body, wait=must_handle_before_answer(update))
    except RedisError:
        logger.warning("update %s not taken: Redis unavailable", update.update_id)
        raise web.HTTPServiceUnavailable(headers=RETRY_LATER) from None
    if offer is Offer.FULL:
        # Backpressure: Telegram keeps the update and sends it again later.
        raise web.HTTPServiceUnavailable(headers=RETRY_LATER)
    if offer is Offer.FAILED:
        raise web.HTTPInternalServerError(text="update failed; deliver it again")
    return web.Response()


def must_handle_before_answer(update: Update) -> bool:
    """A successful payment or a pre-checkout query: never lost once Telegram was told 200."""
    message = update.message
    return update.pre_checkout_query is not None or (
        message is not None and message.successful_payment is not None
    )


async def health(request: web.Request) -> web.Response:
    """200 while the bot runs and Redis answers; 503 otherwise, so the balancer skips us."""
    if not request.app[APPLICATION].running:
        return web.Response(status=503, text="bot not running")
    try:
        await asyncio.wait_for(request.app[STUDIO].redis.ping(), HEALTH_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        logger.warning("health check: Redis unreachable (%s)", type(exc).__name__)
        return web.Response(status=503, text="redis unreachable")
    return web.Response(text="ok")


async def run_bot(app: web.Application) -> AsyncIterator[None]:
    """Start the Application and point Telegram at us; on cleanup stop it, leave the webhook."""
    application = app[APPLICATION]
    pipeline = app[PIPELINE]
    await start_application(application)
    try:
        await pipeline.start()
        await application.bot.set_webhook(
            url=app[WEBHOOK_URL],
            secret_token=app[SECRET].decode(),
            allowed_updates=ALLOWED_UPDATES,
            max_connections=MAX_CONNECTIONS,
        )
    except BaseException:
        await stop_application(application, pipeline)
        raise
    logger.info("webhook set; serving updates")
    yield
    # No deleteWebhook: the other replicas behind the balancer keep serving it.
    await stop_application(application, pipeline)


async def stop_application(
    application: StudioApplication,
    pipeline: UpdatePipeline | None = None,
    grace_s: float = STOP_GRACE_S,
) -> None:
    """Finish the taken updates within `grace_s` and give back the rest; then shut down."""
    if pipeline is not None and pipeline.accepting:
        await pipeline.stop(grace_s)
    if application.running:
        try:
            await asyncio.wait_for(application.stop(), grace_s)
        except TimeoutError:
            logger.warning("updates still in flight after %.0f s; shutting down anyway", grace_s)
    await stop_publishing_profile(application)
    await application.shutdown()
