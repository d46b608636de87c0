"""Mutation check for the privacy tests: each privacy violation in turn must make a test fail.

    .venv/bin/python scripts/mutate_privacy.py            # every mutation, and a clean run
    .venv/bin/python scripts/mutate_privacy.py sha256-user-id-key

For each mutation this runs the privacy test in a fresh pytest with this module loaded as a
plugin (`-p mutate_privacy`); the plugin reads PRIVACY_MUTATION and monkeypatches the shipped
code in that process only (the workers run in the test process), so no file is changed. It
prints, for each, whether some test failed ("caught") and whether the mutant code really ran.
Exit status 1 if a mutation was not caught, or if the run without mutations failed.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import hashlib
import hmac
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FULL_FLOW = (
    "tests/test_privacy_flow.py::"
    "test_full_flow_then_delete_keeps_only_the_ledger_and_logs_nothing_personal"
)
MID_INTAKE = "tests/test_privacy_flow.py::test_delete_mid_intake"
ENV = "PRIVACY_MUTATION"
APPLIED = "privacy mutation applied:"

# name -> (what it does, the tests that must catch it)
MUTATIONS: dict[str, tuple[str, list[str]]] = {
    "imwrite-headshot-tmp": (
        "the intake check writes the headshot with cv2.imwrite to tempfile.gettempdir()",
        [FULL_FLOW],
    ),
    "imwrite-then-unlink-home-cache": (
        "the intake check writes the headshot under ~/.cache with cv2.imwrite and removes it",
        [FULL_FLOW],
    ),
    "libc-fwrite-render-input-shm": (
        "the render worker writes each downloaded input to /dev/shm with libc fopen/fwrite",
        [FULL_FLOW],
    ),
    "embedding-f32-key": (
        "the intake stores the headshot embedding as raw float32 bytes in ps:order:<id>:face",
        [FULL_FLOW],
    ),
    "embedding-f16-expiring": (
        "the intake stores the embedding as float16 bytes under a key that expires in 1 s",
        [FULL_FLOW],
    ),
    "embedding-base64-global-hash": (
        "the intake keeps the embedding, base64 float32, in a global hash never erased",
        [FULL_FLOW],
    ),
    "embedding-zlib-pickle": (
        "the intake caches the pickled embedding, zlib-compressed, in ps:order:<id>:face-cache",
        [FULL_FLOW],
    ),
    "sha256-user-id-key": (
        "a key ps:seen:<sha256(user id) hex> is set on every photo check and never erased",
        [FULL_FLOW, MID_INTAKE],
    ),
    "sha1-chat-id-base64-member": (
        "base64(sha1(chat id)) is added to a global set never erased",
        [FULL_FLOW, MID_INTAKE],
    ),
    "hmac-master-key-field": (
        "HMAC-SHA256(master key, user id), hex truncated to 20, is a field of a global hash",
        [FULL_FLOW, MID_INTAKE],
    ),
    "packed-user-id-member": (
        "the user id packed as a little-endian int64 is added to a global set",
        [FULL_FLOW, MID_INTAKE],
    ),
}


# The plugin: runs inside the pytest process ----------------------------------------------------

_applied: list[str] = []
_left_behind: list[str] = []  # files a mutant wrote: removed when pytest ends, after the test


def _mark() -> None:
    _applied.append(os.environ.get(ENV, ""))


def _write_headshot(data: bytes, directory: str, *, unlink: bool) -> None:
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    path = os.path.join(directory, f"headshot-{uuid.uuid4().hex}.png")
    os.makedirs(directory, exist_ok=True)
    cv2.imwrite(path, image)  # native: Python's audit hook never sees this open
    if unlink:
        os.unlink(path)
    else:
        _left_behind.append(path)
    _mark()


def _libc_write(path: str, data: bytes) -> None:
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.fwrite.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    stream = libc.fopen(path.encode(), b"wb")
    libc.fwrite(data, 1, len(data), stream)
    libc.fclose(stream)
    os.unlink(path)
    _mark()


def _patch_headshot_verdict(directory: Callable[[], str], *, unlink: bool) -> None:
    import jobs.intake

    original = jobs.intake._headshot_verdict

    def mutant(res: Any, data: bytes) -> Any:
        _write_headshot(data, directory(), unlink=unlink)
        return original(res, data)

    jobs.intake._headshot_verdict = mutant


def _patch_render_download() -> None:
    import jobs.render_inputs

    original = jobs.render_inputs.download

    async def mutant(bot: Any, file_id: str) -> bytes:
        data = await original(bot, file_id)
        _libc_write(f"/dev/shm/input-{uuid.uuid4().hex}.jpg", data)
        return data

    jobs.render_inputs.download = mutant  # type: ignore[assignment]


AfterCheck = Callable[[Any, Any, Any], Awaitable[None]]  # (studio, order, embedding or None)


def _patch_check_photo(after: AfterCheck) -> None:
    """Runs `after` once check_photo is done (arq imports the job by name when a worker starts)."""
    import jobs.intake
    from jobs.resources import IntakeResources, resources

    original = jobs.intake.check_photo

    async def mutant(ctx: dict[str, Any], order_id: str, token: str) -> None:
        await original(ctx, order_id, token)
        res = resources(ctx, IntakeResources)
        order = await res.studio.orders.get(order_id)
        if order is not None:
            await after(res.studio, order, res.headshots.get(order_id))

    jobs.intake.check_photo = mutant


def _uid(order: Any) -> bytes:
    return str(order.user_id).encode()


async def _embedding_f32(studio: Any, order: Any, embedding: Any) -> None:
    if embedding is not None:
        await studio.redis.set(f"ps:order:{order.id}:face", embedding.astype("<f4").tobytes())
        _mark()


async def _embedding_f16(studio: Any, order: Any, embedding: Any) -> None:
    if embedding is not None:
        await studio.redis.set(f"ps:face:{order.id}", embedding.astype("<f2").tobytes(), ex=1)
        _mark()


async def _embedding_base64(studio: Any, order: Any, embedding: Any) -> None:
    if embedding is not None:
        value = base64.b64encode(embedding.astype("<f4").tobytes())
        await studio.redis.hset("ps:stats:faces", order.id, value)
        _mark()


async def _embedding_zlib_pickle(studio: Any, order: Any, embedding: Any) -> None:
    if embedding is not None:
        value = zlib.compress(pickle.dumps(embedding))
        await studio.redis.set(f"ps:order:{order.id}:face-cache", value)
        _mark()


async def _sha256_key(studio: Any, order: Any, embedding: Any) -> None:
    await studio.redis.set(f"ps:seen:{hashlib.sha256(_uid(order)).hexdigest()}", 1)
    _mark()


async def _sha1_member(studio: Any, order: Any, embedding: Any) -> None:
    digest = hashlib.sha1(str(order.chat_id).encode()).digest()
    await studio.redis.sadd("ps:stats:chats", base64.b64encode(digest))
    _mark()


async def _hmac_field(studio: Any, order: Any, embedding: Any) -> None:
    token = hmac.new(studio.settings.master_key_bytes, _uid(order), "sha256").hexdigest()[:20]
    await studio.redis.hset("ps:stats:users", token, int(time.time()))
    _mark()


async def _packed_member(studio: Any, order: Any, embedding: Any) -> None:
    await studio.redis.sadd("ps:stats:ids", struct.pack("<q", order.user_id))
    _mark()


_PATCHES: dict[str, Callable[[], None]] = {
    "imwrite-headshot-tmp": lambda: _patch_headshot_verdict(tempfile.gettempdir, unlink=False),
    "imwrite-then-unlink-home-cache": lambda: _patch_headshot_verdict(
        lambda: os.path.expanduser("~/.cache"), unlink=True
    ),
    "libc-fwrite-render-input-shm": _patch_render_download,
    "embedding-f32-key": lambda: _patch_check_photo(_embedding_f32),
    "embedding-f16-expiring": lambda: _patch_check_photo(_embedding_f16),
    "embedding-base64-global-hash": lambda: _patch_check_photo(_embedding_base64),
    "embedding-zlib-pickle": lambda: _patch_check_photo(_embedding_zlib_pickle),
    "sha256-user-id-key": lambda: _patch_check_photo(_sha256_key),
    "sha1-chat-id-base64-member": lambda: _patch_check_photo(_sha1_member),
    "hmac-master-key-field": lambda: _patch_check_photo(_hmac_field),
    "packed-user-id-member": lambda: _patch_check_photo(_packed_member),
}


def pytest_configure(config: Any) -> None:
    name = os.environ.get(ENV, "")
    if name:
        _PATCHES[name]()


def pytest_unconfigure(config: Any) -> None:
    for path in _left_behind:
        if os.path.exists(path):
            os.unlink(path)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(f"{APPLIED} {os.environ.get(ENV, '')} x{len(_applied)}")


# The runner ------------------------------------------------------------------------------------


def run_tests(mutation: str, tests: list[str]) -> tuple[int, int, str]:
    """(pytest's exit status, times the mutant code ran, pytest's last lines)."""
    env = {
        **os.environ,
        ENV: mutation,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "scripts"), str(ROOT)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "HF_HUB_OFFLINE": "1",
    }
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
    command += ["-p", "mutate_privacy", *tests]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    applied = 0
    for line in done.stdout.splitlines():
        if line.startswith(APPLIED):
            applied = int(line.rsplit("x", 1)[1])
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assertion = [line.strip() for line in done.stdout.splitlines() if line.startswith("E   ")]
    return done.returncode, applied, "; ".join(failed[:1] + assertion[:2])[:300]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mutations", nargs="*", metavar="MUTATION", help=", ".join(MUTATIONS))
    args = parser.parse_args()
    unknown = [m for m in args.mutations if m not in MUTATIONS]
    if unknown:
        parser.error(f"unknown mutation {unknown[0]!r}; known: {', '.join(MUTATIONS)}")
    chosen = args.mutations or list(MUTATIONS)
    ok = True
    started = time.monotonic()
    if not args.mutations:
        tests = sorted({t for _, ts in MUTATIONS.values() for t in ts})
        status, _, detail = run_tests("", tests)
        passed = status == 0
        ok &= passed
        print(f"{'no mutation':32} {'pass' if passed else 'FAIL':12} {detail}", flush=True)
    for name in chosen:
        what, tests = MUTATIONS[name]
        status, applied, detail = run_tests(name, tests)
        caught = status == 1 and applied > 0  # 1: tests failed; 2+: pytest itself went wrong
        verdict = "caught" if caught else ("NOT APPLIED" if applied == 0 else "NOT CAUGHT")
        ok &= caught
        print(f"{name:32} {verdict:12} ran x{applied}: {what}", flush=True)
        print(f"{'':32} {'':12} {detail}", flush=True)
    print(f"{'all caught' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
