"""What an attacker holding MASTER_KEY can recover of one user from the files Redis wrote.

Reads every file under Redis's --dir (dump.rdb, appendonlydir/: the RDB-format base, the
increment files, the manifest) the way a forensic tool would, without Redis:

- increment files (and a RESP base) are parsed into the commands they replay, so a value that
  was written and deleted again is still seen, with the key it was written to;
- RDB-format files are read as raw bytes plus every LZF-compressed string in them, decompressed
  (RDB compresses strings over 20 bytes), so nothing hides inside compression;
- every 60-byte window of those bytes, and every command argument, is tried as a data key
  wrapped by the master key for the user (`studio.crypto.Vault`'s format); every key recovered
  is tried on every argument and on every window of a sealed record's length;
- `load_into_scratch_redis` has a fresh redis-server load a copy of the RDB or the AOF and
  dumps every key, which sees integers Redis stored in binary (a user id in a hash).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.asyncio import Redis

from studio.crypto import NONCE_BYTES, WRAP_LABEL, UserKey
from tests.fixtures.redis_server import Dump, dump_redis

WRAPPED_KEY_BYTES = NONCE_BYTES + 32 + 16  # nonce, AES-256 key, GCM tag
RDB_MAGIC = b"REDIS"
LZF_STRING = 0xC3  # RDB_ENCVAL << 6 | RDB_ENC_LZF


@dataclass
class RedisFiles:
    """The files of one Redis --dir, read."""

    paths: list[Path] = field(default_factory=list)
    commands: list[list[bytes]] = field(default_factory=list)  # from RESP (AOF increment) files
    blobs: list[bytes] = field(default_factory=list)  # RDB bytes, raw and decompressed

    def buffers(self) -> Iterator[bytes]:
        yield from self.blobs
        for command in self.commands:
            yield from command

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.blobs) + sum(len(a) for c in self.commands for a in c)


def read_redis_files(directory: Path) -> RedisFiles:
    files = RedisFiles()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        data = path.read_bytes()
        files.paths.append(path)
        if data.startswith(RDB_MAGIC):
            files.blobs.append(data)
            files.blobs.extend(lzf_strings(data))
        elif data.startswith((b"*", b"#")):
            files.commands.extend(resp_commands(data))
        else:
            files.blobs.append(data)  # the manifest, or anything else: scanned as it is
    return files


def resp_commands(data: bytes) -> list[list[bytes]]:
    """The commands of an AOF in RESP form (a torn tail, as after a crash, is dropped)."""
    commands: list[list[bytes]] = []
    i = 0
    with contextlib.suppress(ValueError, IndexError):
        while i < len(data):
            if data[i : i + 1] == b"#":  # an annotation line (aof-timestamp-enabled)
                i = data.index(b"\r\n", i) + 2
                continue
            if data[i : i + 1] != b"*":
                raise ValueError(f"not RESP at byte {i}")
            end = data.index(b"\r\n", i)
            count = int(data[i + 1 : end])
            i = end + 2
            args = []
            for _ in range(count):
                if data[i : i + 1] != b"$":
                    raise ValueError(f"not a bulk string at byte {i}")
                end = data.index(b"\r\n", i)
                length = int(data[i + 1 : end])
                i = end + 2
                if i + length > len(data):
                    raise ValueError("torn tail")
                args.append(data[i : i + length])
                i += length + 2
            commands.append(args)
    return commands


def lzf_strings(data: bytes) -> list[bytes]:
    """Every LZF-compressed RDB string in `data`, decompressed (false starts are dropped)."""
    found = []
    start = data.find(bytes([LZF_STRING]))
    while start != -1:
        compressed = _rdb_length(data, start + 1)
        if compressed is not None:
            clen, at = compressed
            plain = _rdb_length(data, at)
            if plain is not None and 0 < clen <= len(data) - plain[1] and plain[0] < 1 << 24:
                out = lzf_decompress(data[plain[1] : plain[1] + clen], plain[0])
                if out is not None:
                    found.append(out)
        start = data.find(bytes([LZF_STRING]), start + 1)
    return found


def _rdb_length(data: bytes, i: int) -> tuple[int, int] | None:
    if i >= len(data):
        return None
    first = data[i]
    kind = first >> 6
    if kind == 0:
        return first & 0x3F, i + 1
    if kind == 1 and i + 1 < len(data):
        return ((first & 0x3F) << 8) | data[i + 1], i + 2
    if first == 0x80 and i + 5 <= len(data):
        return int.from_bytes(data[i + 1 : i + 5], "big"), i + 5
    if first == 0x81 and i + 9 <= len(data):
        return int.from_bytes(data[i + 1 : i + 9], "big"), i + 9
    return None


def lzf_decompress(data: bytes, expected: int) -> bytes | None:
    """liblzf's decompressor; None unless `data` decodes to exactly `expected` bytes."""
    out = bytearray()
    i = 0
    while i < len(data):
        ctrl = data[i]
        i += 1
        if ctrl < 32:  # a literal run
            length = ctrl + 1
            if i + length > len(data):
                return None
            out += data[i : i + length]
            i += length
        else:  # a back reference
            length = ctrl >> 5
            if length == 7:
                if i >= len(data):
                    return None
                length += data[i]
                i += 1
            if i >= len(data):
                return None
            ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
            i += 1
            if ref < 0:
                return None
            for _ in range(length + 2):
                out.append(out[ref])
                ref += 1
        if len(out) > expected:
            return None
    return bytes(out) if len(out) == expected else None


def windows(buffer: bytes, size: int) -> Iterator[bytes]:
    for start in range(len(buffer) - size + 1):
        yield buffer[start : start + size]


def recover_data_keys(files: RedisFiles, master_key: bytes, user_id: int) -> set[bytes]:
    """Every data key of the user that the master key unwraps from anything in the files."""
    master = AESGCM(master_key)
    aad = WRAP_LABEL + str(user_id).encode()
    found = set()
    candidates: Iterable[bytes] = (
        window for buffer in files.buffers() for window in windows(buffer, WRAPPED_KEY_BYTES)
    )
    for candidate in candidates:
        with contextlib.suppress(Exception):
            found.add(master.decrypt(candidate[:NONCE_BYTES], candidate[NONCE_BYTES:], aad))
    return found


def open_sealed(
    files: RedisFiles,
    data_keys: set[bytes],
    user_id: int,
    fields: list[str],
    lengths: set[int],
) -> list[bytes]:
    """Plaintexts of sealed values (`UserKey.seal` under `fields`) any recovered key opens."""
    opened = []
    for raw in data_keys:
        key = UserKey(user_id, raw)
        blobs = {a for c in files.commands for a in c}
        for buffer in files.blobs:
            for length in lengths:
                blobs.update(windows(buffer, length))
        for blob in blobs:
            for name in fields:
                with contextlib.suppress(ValueError):
                    opened.append(key.open(name, blob))
    return opened


def commands_naming(files: RedisFiles, needles: list[bytes]) -> list[list[bytes]]:
    """The replayed commands with an argument that contains one of `needles`."""
    return [c for c in files.commands if any(n in arg for arg in c for n in needles)]


def blobs_naming(files: RedisFiles, needles: list[bytes]) -> list[bytes]:
    """The needles found in RDB-format bytes (raw or decompressed) or other files."""
    return [n for n in needles if any(n in blob for blob in files.blobs)]


async def load_into_scratch_redis(directory: Path, scratch: Path, *, aof: bool) -> Dump:
    """Every key a fresh redis-server loads from a copy of `directory`'s RDB or AOF, dumped."""
    scratch.mkdir(parents=True, exist_ok=True)
    if aof:
        shutil.copytree(directory / "appendonlydir", scratch / "appendonlydir")
        persistence = ["--appendonly", "yes"]
    else:
        shutil.copy(directory / "dump.rdb", scratch / "dump.rdb")
        persistence = ["--appendonly", "no"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    binary = shutil.which("redis-server") or "redis-server"
    address = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(scratch)]
    proc = subprocess.Popen(
        [binary, *address, "--save", "", *persistence],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = Redis(port=port)
    try:
        for _ in range(500):
            with contextlib.suppress(Exception):
                if await client.ping() and (await client.info("persistence"))["loading"] == 0:
                    break
            await asyncio.sleep(0.02)
        return await dump_redis(client)
    finally:
        await client.aclose()
        proc.terminate()
        proc.wait(timeout=10)
