"""The privacy detectors find what they are for in planted data, and stay quiet on clean data.

The full-flow and /delete tests (tests/test_privacy_flow.py) rely on these detectors; here each
is shown to catch its violation on its own, fast: an embedding in bytes, a hash of a user id,
a native write into a watched directory, and every command Redis ran.
"""

from __future__ import annotations

import base64
import ctypes
import gzip
import hashlib
import hmac
import json
import os
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from redis.asyncio import Redis

from studio.crypto import UserKey
from tests.privacy_scans import (
    DiskWatch,
    RedisCommandLog,
    find_needles,
    float_runs,
    id_needles,
    parse_monitor_line,
)

USER = 987_654_321
RNG = np.random.default_rng(7)


def embedding(dim: int = 512, *, normalised: bool = True) -> np.ndarray:
    raw = RNG.normal(0, 1.5, dim).astype(np.float32)  # insightface's raw scale
    return raw / np.linalg.norm(raw) if normalised else raw


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
@pytest.mark.parametrize("normalised", [True, False])
def test_an_embedding_in_bytes_is_found(dtype: type, normalised: bool) -> None:
    vector = embedding(normalised=normalised).astype(dtype).tobytes()
    sealed_around = os.urandom(13) + vector + os.urandom(29)  # unaligned, inside other bytes
    for stored in (
        vector,
        sealed_around,
        base64.b64encode(vector),
        base64.urlsafe_b64encode(vector),
        vector.hex().encode(),
        b"pickled:" + zlib.compress(vector),
        gzip.compress(vector),
        embedding(normalised=normalised).astype(np.dtype(dtype).newbyteorder(">")).tobytes(),
        json.dumps([round(float(x), 6) for x in embedding()]).encode(),
    ):
        assert float_runs(stored), stored[:40]


def test_a_128_dimension_embedding_is_found() -> None:
    assert float_runs(embedding(128).tobytes())


def test_sealed_blobs_and_records_are_not_embeddings() -> None:
    key = UserKey(USER, os.urandom(32))
    record = json.dumps({"file_id": "AgAC" + "x" * 60, "status": "accepted", "at": 1.5}).encode()
    clean = [
        os.urandom(1 << 20),  # a megabyte of random bytes, as sealed blobs are
        *(key.seal(f"photo:{i}", record * 20) for i in range(200)),
        b"\0" * 4096,  # padding
        ("照片已收到，谢谢！" * 200).encode(),  # Chinese text
        b"0123456789" * 400,  # digits read as float16 are in [0.125, 1): but all positive
        base64.b64encode(os.urandom(4096)),
        os.urandom(4096).hex().encode(),
        np.arange(1000, dtype=np.int64).tobytes(),  # counters, timestamps
        zlib.compress(json.dumps({"orders": list(range(500))}).encode()),
        b"\x78\x9c" + os.urandom(4096),  # a zlib magic in random bytes
    ]
    for data in clean:
        assert float_runs(data) == [], data[:40]


def test_hashes_of_an_id_are_found_in_every_form() -> None:
    text = str(USER).encode()
    secret = os.urandom(32)
    digests = [
        hashlib.sha256(text).digest(),
        hashlib.sha1(text).digest(),
        hashlib.md5(text).digest(),
        hashlib.blake2b(text).digest(),
        hashlib.blake2b(text, digest_size=16).digest(),
        hmac.new(secret, text, "sha256").digest(),
    ]
    needles = id_needles(USER, secrets=[secret])
    for digest in digests:
        for stored in (
            digest,
            digest.hex().encode(),
            digest.hex().upper().encode(),
            digest.hex()[:24].encode(),  # truncated, as lookup tokens often are
            base64.b64encode(digest),
            base64.urlsafe_b64encode(digest).rstrip(b"="),
        ):
            assert find_needles(b"ps:seen:" + stored + b":x", needles), stored
    assert find_needles(USER.to_bytes(8, "little"), needles)
    assert find_needles(b"user " + text, needles)


def test_hash_needles_do_not_match_other_ids_or_random_bytes() -> None:
    needles = id_needles(USER, secrets=[b"master"])
    other = str(USER + 1).encode()
    assert not find_needles(hashlib.sha256(other).hexdigest().encode(), needles)
    assert not find_needles(os.urandom(1 << 20), needles)
    assert not find_needles(os.urandom(1 << 18).hex().encode(), needles)


@pytest.mark.parametrize("fanotify", [True, False], ids=["fanotify-if-allowed", "inotify"])
def test_a_native_write_into_a_watched_directory_is_seen(tmp_path: Path, fanotify: bool) -> None:
    """cv2.imwrite and libc's fopen bypass Python's open and its audit hook; the watch sees them."""
    watched, ignored = tmp_path / "watched", tmp_path / "watched" / "redis-data"
    ignored.mkdir(parents=True)
    image = np.zeros((16, 16, 3), np.uint8)
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.fwrite.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    with DiskWatch(roots=[watched], ignore=[ignored], fanotify=fanotify) as watch:
        assert cv2.imwrite(str(watched / "headshot.png"), image)
        assert cv2.imwrite(str(watched / "gone.jpg"), image)
        os.unlink(watched / "gone.jpg")  # written and removed at once: still a write
        (watched / "sub").mkdir()
        stream = libc.fopen(str(watched / "sub" / "embedding.bin").encode(), b"wb")
        libc.fwrite(b"\x01\x02", 1, 2, stream)
        libc.fclose(stream)
        assert cv2.imwrite(str(ignored / "dump.png"), image)  # expected: Redis's own dir
        (watched / "read-only.txt").exists()
    found = [Path(p.removesuffix(" (deleted)")).name for p in watch.unexpected()]
    assert {"headshot.png", "gone.jpg", "embedding.bin"} <= set(found), (watch.mechanism, found)
    assert "dump.png" not in found
    print(f"disk watch: {watch.mechanism}")


def test_without_inotify_watches_left_a_directory_is_compared_before_and_after(
    tmp_path: Path,
) -> None:
    watch = DiskWatch(roots=[tmp_path], fanotify=False)
    with watch:
        watch._unwatched[tmp_path] = {}  # as when inotify_add_watch fails with ENOSPC
        assert cv2.imwrite(str(tmp_path / "headshot.png"), np.zeros((8, 8, 3), np.uint8))
    assert str(tmp_path / "headshot.png") in watch.unexpected()


def test_a_quiet_process_writes_nothing(tmp_path: Path) -> None:
    with DiskWatch(roots=[tmp_path]) as watch:
        cv2.imdecode(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1], cv2.IMREAD_COLOR)
    assert watch.unexpected() == []


def test_monitor_lines_are_parsed_back_to_the_bytes() -> None:
    line = rb'+1700000000.1 [0 lua] "HSET" "k \"q\"" "\x00\xff\\n" "a\r\nb"'.replace(
        b"\r\n", b"\\r\\n"
    )
    assert parse_monitor_line(line) == [b"HSET", b'k "q"', b"\x00\xff\\n", b"a\r\nb"]


async def test_the_command_log_sees_a_value_that_is_gone_again(
    redis: Redis, redis_url: str
) -> None:
    vector = embedding().tobytes()
    async with RedisCommandLog(redis_url) as log:
        await redis.set("ps:scratch", vector)
        script = "redis.call('HSET', KEYS[1], 'f', ARGV[1])"  # as the order transitions do
        await redis.eval(script, 1, "ps:h", vector)  # type: ignore[misc, arg-type]
        await redis.delete("ps:scratch", "ps:h")
    written = [args for args in log.commands if args and args[0].upper() in (b"SET", b"HSET")]
    assert [vector in args for args in written] == [True, True]
    assert all(float_runs(args[-1]) for args in written)
