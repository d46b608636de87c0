"""A worker process's resources: opened once in on_startup, kept in ctx, closed in on_shutdown."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from telegram.ext import ExtBot

from bot.client import make_bot
from jobs.generation import load_portrait_models, load_signer
from studio.clock import Clock
from studio.domain import Studio
from studio.render_workers import register_render_worker, unregister_render_worker
from studio.settings import Settings

if TYPE_CHECKING:
    from jobs.intake import HeadshotCache
    from pipeline.faces import FaceBackend
    from pipeline.portraits import PortraitModels
    from pipeline.provenance import ProvenanceSigner

logger = logging.getLogger(__name__)

# The one ctx entry this project adds; arq copies ctx for every job, not the values in it.
RESOURCES = "resources"


@dataclass
class WorkerResources:
    """What every job needs: the domain and the Bot API client."""

    studio: Studio
    bot: ExtBot[None]

    @property
    def settings(self) -> Settings:
        return self.studio.settings


@dataclass
class IntakeResources(WorkerResources):
    """Intake also checks faces (CPU), and remembers headshot embeddings in this process only."""

    analyzer: FaceBackend  # the model stack's face backend (jobs/face_backend.py)
    headshots: HeadshotCache
    # insightface models keep per-call state on the instance: one analysis at a time (dlib too).
    analyzer_lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class RenderResources(WorkerResources):
    """Rendering also needs the face analyser and the generator."""

    models: PortraitModels
    worker_name: str = ""  # registered for the ETA's count of live render workers


@dataclass
class DeliveryResources(WorkerResources):
    """Delivery also signs (C2PA) the preview sheets it composes, like every delivered file."""

    signer: ProvenanceSigner | None = None


R = TypeVar("R", bound=WorkerResources)


def resources(ctx: Mapping[str, Any], kind: type[R]) -> R:
    """The worker's resources, as `kind`; a job run by the wrong worker fails here, loudly."""
    found = ctx[RESOURCES]
    if not isinstance(found, kind):
        raise TypeError(f"this worker holds {type(found).__name__}, not {kind.__name__}")
    return found


async def start_intake(ctx: dict[str, Any], *, settings: Settings, clock: Clock | None) -> None:
    """Intake needs face analysis (CPU) but never the generator; its model files are verified."""
    from jobs.face_backend import load_face_backend_for
    from jobs.intake import HeadshotCache  # jobs.intake reads its resources through this module

    studio, bot = await _open_common(settings, clock)
    try:
        analyzer = await asyncio.to_thread(load_face_backend_for, settings)
    except BaseException:
        await _close_common(studio, bot)
        raise
    ctx[RESOURCES] = IntakeResources(studio, bot, analyzer=analyzer, headshots=HeadshotCache())
    logger.info("intake worker ready (%s stack, %s faces)", settings.model_stack, analyzer.name)


async def start_render(
    ctx: dict[str, Any], *, settings: Settings, clock: Clock | None, worker_name: str
) -> None:
    """Verify the stack's model files, load the face analyser and the generator once."""
    from jobs.face_backend import verify_weights_for

    studio, bot = await _open_common(settings, clock)
    try:
        await asyncio.to_thread(verify_weights_for, settings, ("face", "generator"))
        models = await asyncio.to_thread(load_portrait_models, settings)
        await register_render_worker(studio.redis, worker_name)
    except BaseException:
        await _close_common(studio, bot)
        raise
    ctx[RESOURCES] = RenderResources(studio, bot, models=models, worker_name=worker_name)
    logger.info("render worker ready (device %s)", settings.render_device)


async def start_delivery(ctx: dict[str, Any], *, settings: Settings, clock: Clock | None) -> None:
    """Delivery sends from the outbox: the domain, the Bot API client and the C2PA signer."""
    signer = await asyncio.to_thread(load_signer, settings)
    studio, bot = await _open_common(settings, clock)
    ctx[RESOURCES] = DeliveryResources(studio, bot, signer=signer)
    logger.info("delivery worker ready")


async def stop(ctx: dict[str, Any]) -> None:
    found: WorkerResources | None = ctx.pop(RESOURCES, None)
    if found is None:
        return
    try:
        if isinstance(found, RenderResources) and found.worker_name:
            await unregister_render_worker(found.studio.redis, found.worker_name)
    finally:
        await _close_common(found.studio, found.bot)


async def _open_common(settings: Settings, clock: Clock | None) -> tuple[Studio, ExtBot[None]]:
    studio = await Studio.open(settings, clock=clock)
    bot = make_bot(settings, studio)
    try:
        await bot.initialize()
    except BaseException:
        await _close_common(studio, bot)
        raise
    return studio, bot


async def _close_common(studio: Studio, bot: ExtBot[None]) -> None:
    try:
        await bot.shutdown()
    finally:
        await studio.close()
