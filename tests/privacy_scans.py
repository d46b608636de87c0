"""Detectors for the privacy tests: disk writes from any code, embeddings and id hashes in bytes.

- `DiskWatch` records every file written while it is active, native writes included (a C
  library's `fopen`, `cv2.imwrite`), not only Python's `open`. With fanotify (Linux, root) it
  sees every write by this process on the filesystems holding the watched roots, and ignores
  other processes; without it, inotify watches the roots recursively and sees every process.
- `float_runs` finds embeddings stored as bytes: runs of float16/32/64 (either byte order) that
  look like a face embedding, also inside base64 or hex text and zlib or gzip streams. Sealed
  AES-GCM blobs are random bytes and never look like that (a random 32-bit pattern is a float
  in the plausible range ~10% of the time, so a run of 128 has odds of about 10^-128).
- `id_needles` lists the byte strings that would link a value to an id: the id itself in text
  and as a packed integer, and its common hashes (md5, sha1, sha2, sha3, blake2) as raw bytes,
  hex and base64, truncated or not, plus HMACs under the secrets the test knows.
- `RedisCommandLog` keeps every argument of every command Redis executed (MONITOR, which also
  shows the commands Lua scripts run), so a value written and deleted again is still scanned.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import ctypes
import errno
import hashlib
import hmac
import os
import re
import select
import struct
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

# Embeddings -----------------------------------------------------------------------------------

MIN_FLOAT_RUN = 128  # the smallest face embeddings (FaceNet-128) are this long
TEXT_FLOAT_RUN = re.compile(rb"(-?\d+\.\d+(?:[eE][-+]?\d+)?[,;\s]+){8,}")  # numbers in text
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{300,}={0,2}")  # >= 225 bytes once decoded
_HEX_RUN = re.compile(rb"(?:[0-9a-fA-F]{2}){256,}")  # >= 256 bytes once decoded
_FLOAT_TYPES = (("<f2", 2), ("<f4", 4), ("<f8", 8), (">f2", 2), (">f4", 4), (">f8", 8))
_COMPRESSED = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda", b"\x1f\x8b")  # zlib, gzip
_MAX_INFLATED = 1 << 22


@dataclass(frozen=True)
class FloatRun:
    """A stretch of `data` that reads as a vector of plausible floats."""

    dtype: str
    offset: int  # byte offset in the (decoded) data
    length: int  # number of values
    rms: float
    encoding: str = "raw"  # raw, base64 or hex

    def __str__(self) -> str:
        where = f"at byte {self.offset} ({self.encoding}, rms {self.rms:.3f})"
        return f"{self.length} x {self.dtype} {where}"


def _plausible_runs(values: np.ndarray, min_len: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each stretch of finite, moderate values at least `min_len` long."""
    with np.errstate(all="ignore"):
        magnitude = np.abs(values)
        ok = np.isfinite(values) & (magnitude <= 16.0) & ((values == 0) | (magnitude >= 1e-6))
    edges = np.diff(np.concatenate(([0], ok.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    for start, end in zip(starts, ends, strict=True):
        if end - start >= min_len:
            yield int(start), int(end)


def _looks_like_embedding(values: np.ndarray) -> float | None:
    """The run's RMS if it has an embedding's shape: mostly non-zero, both signs, sane scale.

    Embeddings (normalised: rms ~0.04 for 512 values; raw insightface: rms ~1) are centred on
    zero. Text read as floats is all-positive (ASCII has no top bit) and padding is all zeros.
    """
    nonzero = values[values != 0]
    if len(nonzero) < 0.5 * len(values):
        return None
    negative = float(np.mean(nonzero < 0))
    rms = float(np.sqrt(np.mean(nonzero.astype(np.float64) ** 2)))
    if 0.2 <= negative <= 0.8 and 0.005 <= rms <= 8.0:
        return rms
    return None


def _binary_float_runs(data: bytes, min_len: int, encoding: str) -> list[FloatRun]:
    found = []
    for dtype, width in _FLOAT_TYPES:
        for offset in range(width):
            count = (len(data) - offset) // width
            if count < min_len:
                continue
            with np.errstate(all="ignore"):
                values = np.frombuffer(data, dtype, count, offset).astype(np.float64)
            for start, end in _plausible_runs(values, min_len):
                rms = _looks_like_embedding(values[start:end])
                if rms is not None:
                    found.append(
                        FloatRun(dtype, offset + start * width, end - start, rms, encoding)
                    )
    return found


def _inflated(data: bytes) -> Iterator[bytes]:
    """zlib or gzip streams starting anywhere in `data`, inflated (bounded)."""
    for magic in _COMPRESSED:
        start = data.find(magic)
        while start >= 0:
            inflater = zlib.decompressobj(wbits=47)  # zlib or gzip header, detected
            with contextlib.suppress(zlib.error):
                yield inflater.decompress(data[start:], _MAX_INFLATED)
            start = data.find(magic, start + 1)


def _decoded_runs(data: bytes) -> Iterator[tuple[str, bytes]]:
    """Binary data hidden in text or compressed: base64 or hex runs, zlib or gzip streams."""
    for inflated in _inflated(data):
        if len(inflated) >= MIN_FLOAT_RUN * 2:
            yield "compressed", inflated
    for match in _HEX_RUN.finditer(data):
        yield "hex", binascii.unhexlify(match.group())
    for match in _BASE64_RUN.finditer(data):
        text = match.group().rstrip(b"=")
        text += b"=" * (-len(text) % 4)
        with contextlib.suppress(binascii.Error, ValueError):
            yield "base64", base64.b64decode(text.replace(b"-", b"+").replace(b"_", b"/"))


def float_runs(data: bytes, min_len: int = MIN_FLOAT_RUN) -> list[FloatRun]:
    """Every run of >= `min_len` embedding-like floats in `data`, raw or base64/hex encoded."""
    found = _binary_float_runs(data, min_len, "raw")
    for encoding, decoded in _decoded_runs(data):
        found += _binary_float_runs(decoded, min_len, encoding)
    text = TEXT_FLOAT_RUN.search(data)
    if text is not None:
        found.append(FloatRun("text", text.start(), 8, 0.0, "text"))
    return found


def longest_plausible_run(data: bytes) -> int:
    """The longest run of finite, moderate floats in `data`, embedding-shaped or not.

    For the margin on real data: how close clean values come to `MIN_FLOAT_RUN`.
    """
    longest = 0
    for dtype, width in _FLOAT_TYPES:
        for offset in range(width):
            count = (len(data) - offset) // width
            if count < 1:
                continue
            with np.errstate(all="ignore"):
                values = np.frombuffer(data, dtype, count, offset).astype(np.float64)
            for start, end in _plausible_runs(values, 1):
                longest = max(longest, end - start)
    return longest


# Hashes of ids --------------------------------------------------------------------------------

_HASHES = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3_256", "sha3_512")


def _digests(value: bytes, secrets: Sequence[bytes]) -> Iterator[tuple[str, bytes]]:
    for name in _HASHES:
        yield name, hashlib.new(name, value).digest()
    for size in (16, 20, 32, 64):
        yield f"blake2b-{size * 8}", hashlib.blake2b(value, digest_size=size).digest()
    yield "blake2s", hashlib.blake2s(value).digest()
    # HMACs under the secrets the test holds (master key, payload secret, bot token): a key or
    # value derived that way links to the user for anyone with the secret. An HMAC under a key
    # the test cannot know (say, the user's data key, as `UserKey.token` is) cannot be scanned
    # for; the sealed design covers it, since that key is shredded by /delete and the HMAC then
    # links to nothing.
    for i, secret in enumerate(secrets):
        for name in ("sha256", "sha1", "sha512"):
            yield f"hmac-{name}[secret {i}]", hmac.new(secret, value, name).digest()


def _forms(digest: bytes) -> Iterator[tuple[str, bytes]]:
    """Raw, hex and base64 forms; prefixes, so that truncated digests (>= 8 bytes) match too."""
    hexed = digest.hex()
    yield "raw", digest[:8]
    yield "hex", hexed[:16].encode()
    yield "HEX", hexed[:16].upper().encode()
    yield "base64", base64.b64encode(digest)[:12]
    yield "base64url", base64.urlsafe_b64encode(digest)[:12]
    yield "base32", base64.b32encode(digest)[:16]


def id_needles(identifier: int | str, secrets: Sequence[bytes] = ()) -> dict[bytes, str]:
    """Byte strings whose presence links a key or value to `identifier`, with what each is."""
    text = str(identifier).encode()
    needles = {text: "plain", base64.b64encode(text).rstrip(b"="): "base64"}
    if isinstance(identifier, int):
        for order in "<>":
            needles[struct.pack(f"{order}q", identifier)] = f"int64 {order}"
    for name, digest in _digests(text, secrets):
        for form, needle in _forms(digest):
            needles.setdefault(needle, f"{name} {form}")
    return needles


def linking_needles(
    identifiers: Iterable[int | str], secrets: Sequence[bytes] = ()
) -> dict[bytes, str]:
    """`id_needles` for several ids, each described with the id's position in the list."""
    needles: dict[bytes, str] = {}
    for i, identifier in enumerate(identifiers):
        for needle, what in id_needles(identifier, secrets).items():
            needles.setdefault(needle, f"{what} of id #{i}")
    return needles


def find_needles(data: bytes, needles: dict[bytes, str]) -> list[str]:
    return [what for needle, what in needles.items() if needle in data]


# Redis: every command, as it ran ----------------------------------------------------------------

_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"a": b"\a", b"b": b"\b"}


def parse_monitor_line(line: bytes) -> list[bytes]:
    """The arguments of one MONITOR line (`+ts [db addr] "SET" "k" "\\x00v"`), unescaped."""
    start = line.find(b'] "')
    if start < 0:
        return []
    args: list[bytes] = []
    i, n = start + 2, len(line)
    while i < n:
        if line[i : i + 1] != b'"':
            i += 1
            continue
        i += 1
        arg = bytearray()
        while i < n and line[i : i + 1] != b'"':
            char = line[i : i + 1]
            if char == b"\\" and i + 1 < n:
                nxt = line[i + 1 : i + 2]
                if nxt == b"x" and i + 3 < n:
                    arg += bytes([int(line[i + 2 : i + 4], 16)])
                    i += 4
                    continue
                arg += _ESCAPES.get(nxt, nxt)
                i += 2
                continue
            arg += char
            i += 1
        args.append(bytes(arg))
        i += 1
    return args


@dataclass
class RedisCommandLog:
    """Every command Redis runs while active (MONITOR), parsed into its arguments."""

    redis_url: str
    commands: list[list[bytes]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RedisCommandLog:
        parts = urlsplit(self.redis_url)
        # A line holds a whole command: the delivery outbox's sealed images make long ones.
        reader, self._writer = await asyncio.open_connection(
            parts.hostname, parts.port or 6379, limit=1 << 28
        )
        self._writer.write(b"MONITOR\r\n")
        await self._writer.drain()
        assert (await reader.readline()).startswith(b"+OK")
        self._task = asyncio.create_task(self._read(reader))
        return self

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            self.commands.append(parse_monitor_line(line.rstrip(b"\r\n")))

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None and self._writer is not None
        await asyncio.sleep(0.2)  # the last commands' lines
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._writer.close()


# Disk writes ------------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_FAN_CLOEXEC, _FAN_NONBLOCK, _FAN_UNLIMITED_QUEUE = 0x1, 0x2, 0x10
_FAN_MARK_ADD, _FAN_MARK_FILESYSTEM = 0x1, 0x100
_FAN_MODIFY, _FAN_CLOSE_WRITE, _FAN_Q_OVERFLOW = 0x2, 0x8, 0x4000
_FAN_EVENT = struct.Struct("IBBHQii")
_IN_MODIFY, _IN_CLOSE_WRITE, _IN_MOVED_TO, _IN_CREATE = 0x2, 0x8, 0x80, 0x100
_IN_Q_OVERFLOW, _IN_ISDIR, _IN_NONBLOCK, _IN_CLOEXEC = 0x4000, 0x40000000, 0x800, 0x80000
_IN_MASK = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_MOVED_TO | _IN_CREATE
_IN_EVENT = struct.Struct("iIII")


def writable_roots() -> list[Path]:
    """Where a process of ours can write: temp dirs, the working dir, $HOME, shared memory."""
    import tempfile

    candidates = [tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm", os.getcwd()]
    candidates.append(os.path.expanduser("~"))
    roots: list[Path] = []
    for candidate in candidates:
        path = Path(candidate).resolve()
        if path.is_dir() and os.access(path, os.W_OK) and path not in roots:
            roots.append(path)
    return roots


def _std_streams() -> set[tuple[int, int]]:
    """(device, inode) of stdout/stderr: pytest's capture files, the terminal or a CI log."""
    found = set()
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            st = os.fstat(fd)
            found.add((st.st_dev, st.st_ino))
    return found


def _snapshot(directory: Path) -> dict[str, tuple[int, int, int]]:
    """path -> (size, mtime_ns, inode) of the files directly in `directory`."""
    found = {}
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    found[entry.path] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return found


class DiskWatch:
    """Records the files written while active (fanotify for this process, else inotify).

    `ignore` are trees whose writes are expected (Redis's data dir, pytest's own). `__pycache__`
    files are always expected: the interpreter writes them on a first import.
    """

    def __init__(
        self,
        roots: Sequence[Path] | None = None,
        ignore: Sequence[Path] = (),
        *,
        fanotify: bool | None = None,
    ) -> None:
        # PRIVACY_DISK_WATCH=inotify tries the fallback on a machine that allows fanotify. The
        # fallback sees every process's writes: it is exact only where nothing else runs (CI).
        if fanotify is None:
            fanotify = os.environ.get("PRIVACY_DISK_WATCH", "") != "inotify"
        self.use_fanotify = fanotify
        self.roots = [Path(r).resolve() for r in (roots or writable_roots())]
        self.ignore = [Path(p).resolve() for p in ignore]
        self.writes: list[str] = []
        self.overflowed = False
        self.mechanism = ""
        self._fd = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watches: dict[int, Path] = {}
        self._unwatched: dict[Path, dict[str, tuple[int, int, int]]] = {}
        self._std = _std_streams()

    # public ------------------------------------------------------------------------------

    def __enter__(self) -> DiskWatch:
        self._std = _std_streams()
        if not (self.use_fanotify and self._start_fanotify()):
            self._start_inotify()
        self._thread = threading.Thread(target=self._run, name="disk-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=10)
        for directory, before in self._unwatched.items():
            after = _snapshot(directory)
            self.writes += [name for name, seen in after.items() if before.get(name) != seen]
        os.close(self._fd)

    def unexpected(self) -> list[str]:
        """Writes outside the ignored trees and caches; an overflow counts as unexpected."""
        found = sorted({p for p in self.writes if not self._expected(p)})
        return found + (
            ["<event queue overflowed: writes may be missing>"] if self.overflowed else []
        )

    # mechanics ---------------------------------------------------------------------------

    def _expected(self, path: str) -> bool:
        clean = Path(path.removesuffix(" (deleted)"))
        if "__pycache__" in clean.parts and (clean.suffix == ".pyc" or ".pyc." in clean.name):
            return True  # the interpreter's bytecode cache (written atomically via a temp name)
        return any(clean == p or p in clean.parents for p in self.ignore)

    def _start_fanotify(self) -> bool:
        if not hasattr(_libc, "fanotify_init"):
            return False
        _libc.fanotify_mark.argtypes = [
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint64,
            ctypes.c_int,
            ctypes.c_char_p,
        ]
        # An unlimited queue: every process's writes are queued, and a busy machine would
        # otherwise overflow the default 16384 events while the reader waits for the GIL.
        flags = _FAN_CLOEXEC | _FAN_NONBLOCK | _FAN_UNLIMITED_QUEUE
        fd = _libc.fanotify_init(flags, os.O_RDONLY | os.O_CLOEXEC)
        if fd < 0:
            return False  # EPERM without CAP_SYS_ADMIN: use inotify
        marked: set[int] = set()
        for root in self.roots:
            device = root.stat().st_dev
            if device in marked:
                continue
            flags, mask = _FAN_MARK_ADD | _FAN_MARK_FILESYSTEM, _FAN_MODIFY | _FAN_CLOSE_WRITE
            if _libc.fanotify_mark(fd, flags, mask, -100, str(root).encode()) != 0:
                os.close(fd)
                return False
            marked.add(device)
        self._fd, self.mechanism = fd, "fanotify (writes by this process)"
        return True

    def _start_inotify(self) -> None:
        fd = _libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._fd, self.mechanism = fd, "inotify (writes by any process)"
        for root in self.roots:
            self._watch_tree(root, initial=True)

    def _watch_tree(self, top: Path, *, initial: bool) -> None:
        for dirpath, dirnames, filenames in os.walk(top):
            here = Path(dirpath)
            if self._expected(str(here)):
                dirnames.clear()
                continue
            wd = _libc.inotify_add_watch(self._fd, str(here).encode(), _IN_MASK)
            if wd >= 0:
                self._watches[wd] = here
            elif ctypes.get_errno() == errno.ENOSPC:
                # Out of inotify watches (fs.inotify.max_user_watches): this directory's files
                # are compared before and after instead (misses a file written and removed).
                self._unwatched[here] = _snapshot(here)
            if not initial:  # a new directory: files made before its watch are writes too
                self.writes.extend(str(here / name) for name in filenames)

    def _run(self) -> None:
        read = self._read_fanotify if self.mechanism.startswith("fanotify") else self._read_inotify
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.05)
            if ready:
                read()
        read()  # whatever is queued at the end

    def _read_fanotify(self) -> None:
        me = os.getpid()
        while True:
            try:
                buf = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return
            offset = 0
            while offset + _FAN_EVENT.size <= len(buf):
                length, _, _, _, mask, event_fd, pid = _FAN_EVENT.unpack_from(buf, offset)
                offset += length
                if mask & _FAN_Q_OVERFLOW:
                    self.overflowed = True
                if event_fd < 0:
                    continue
                try:
                    st = os.fstat(event_fd)
                    if pid == me and (st.st_dev, st.st_ino) not in self._std:
                        self.writes.append(os.readlink(f"/proc/self/fd/{event_fd}"))
                finally:
                    os.close(event_fd)

    def _read_inotify(self) -> None:
        while True:
            try:
                buf = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return
            offset = 0
            while offset + _IN_EVENT.size <= len(buf):
                wd, mask, _, size = _IN_EVENT.unpack_from(buf, offset)
                raw = buf[offset + _IN_EVENT.size : offset + _IN_EVENT.size + size]
                offset += _IN_EVENT.size + size
                if mask & _IN_Q_OVERFLOW:
                    self.overflowed = True
                    continue
                directory = self._watches.get(wd)
                if directory is None:
                    continue
                path = directory / raw.rstrip(b"\0").decode(errors="replace")
                if mask & _IN_ISDIR:
                    if mask & (_IN_CREATE | _IN_MOVED_TO):
                        self._watch_tree(path, initial=False)
                    continue
                # "#<inode>": an O_TMPFILE file (no name), as pytest's capture files are
                nameless = path.name.startswith("#") and path.name[1:].isdigit()
                if nameless and any(ino == int(path.name[1:]) for _, ino in self._std):
                    continue
                with contextlib.suppress(OSError):
                    st = path.stat()
                    if (st.st_dev, st.st_ino) in self._std:
                        continue
                self.writes.append(str(path))
