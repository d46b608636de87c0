"""Worker startup and shutdown: open the domain, the Bot API client and the models once."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from studio.clock import Clock
from studio.domain import Studio
from studio.settings import Settings

logger = logging.getLogger(__name__)


async def _start_common(ctx: dict[str, Any]) -> Settings:
    from bot.client import make_bot

    settings: Settings = ctx["settings"]
    clock: Clock | None = ctx.get("clock")
    ctx["studio"] = studio = await Studio.open(settings, clock=clock)
    ctx["bot"] = bot = make_bot(settings, studio)
    await bot.initialize()
    return settings


async def start_intake(ctx: dict[str, Any]) -> None:
    """Intake needs face analysis (CPU) but never the generator."""
    from jobs.intake import intake_resources
    from pipeline.faces import FaceAnalyzer

    settings = await _start_common(ctx)
    ctx.update(intake_resources())
    ctx["analyzer"] = await asyncio.to_thread(
        FaceAnalyzer, settings.face_pack, settings.face_root, providers=None
    )
    logger.info("intake worker ready (face pack %s)", settings.face_pack)


async def start_render(ctx: dict[str, Any]) -> None:
    """Load the face analyser and the generator once; every render reuses them."""
    from jobs.generation import load_portrait_models

    settings = await _start_common(ctx)
    ctx["models"] = await asyncio.to_thread(load_portrait_models, settings)
    logger.info("render worker ready (device %s)", settings.render_device)


async def stop(ctx: dict[str, Any]) -> None:
    bot = ctx.get("bot")
    if bot is not None:
        await bot.shutdown()
    studio: Studio | None = ctx.get("studio")
    if studio is not None:
        await studio.close()
