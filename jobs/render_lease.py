"""Who is rendering an order right now, so that a dead worker's render re-runs in minutes.

arq marks a running job with an in-progress key that names no owner and lives for the job
timeout + 10 s (about half an hour with our defaults): a render whose worker was killed waits
that long before arq runs it again. A render run therefore holds a lease, a key with its own
token and a short TTL that the run refreshes while it lives. Without a lease the reconciler
knows that nobody is rendering, and frees arq's in-progress key so that a worker picks the job
up again (see `studio.queue.free_dead_render`).

Never two runs at once: a run that finds another run's lease waits for it to end or lapse, and
a run that has lost its lease (it stalled past the TTL) stops at its next check before it sends
anything, so at most one run of an order talks to Telegram.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from redis.asyncio import Redis

from studio import keys
from studio.settings import Settings

logger = logging.getLogger(__name__)

WAIT_POLL_S = 1.0

_REFRESH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def lease_seconds(settings: Settings) -> float:
    """The lease TTL: RENDER_LEASE_S, but at most a quarter of a try's timeout.

    After a crash the next try (freed by the reconciler, or by arq once its own key lapses)
    waits for the dead run's lease; a lease as long as a try would eat that try's time.
    """
    return min(float(settings.render_lease_s), settings.render_job_timeout_s / 4)


class RenderLease:
    """One render run's claim on its order, refreshed in the background while the run lives."""

    def __init__(self, redis: Redis, order_id: str, ttl_s: float, key: str | None = None) -> None:
        self._redis = redis
        # The delivery stage holds the same kind of lease under keys.delivery_lease.
        self._key = key or keys.render_lease(order_id)
        self._token = uuid.uuid4().hex
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self.order_id = order_id

    async def acquire(self) -> bool:
        return bool(await self._redis.set(self._key, self._token, nx=True, px=self._ttl_ms))

    async def wait_acquire(self, still_wanted: Callable[[], Awaitable[bool]]) -> bool:
        """Take the lease, waiting while another run holds it; False once no longer wanted."""
        while not await self.acquire():
            if not await still_wanted():
                return False
            logger.warning("order %s: another run holds the render lease; waiting", self.order_id)
            await asyncio.sleep(WAIT_POLL_S)
        return True

    async def held(self) -> bool:
        return bool(await self._redis.get(self._key) == self._token.encode())

    async def refresh(self) -> bool:
        script = self._redis.register_script(_REFRESH)
        return bool(await script(keys=[self._key], args=[self._token, self._ttl_ms]))

    async def release(self) -> None:
        script = self._redis.register_script(_RELEASE)
        await script(keys=[self._key], args=[self._token])

    @contextlib.asynccontextmanager
    async def kept_alive(self) -> AsyncIterator[RenderLease]:
        """Refresh every third of the TTL until the block ends; release it then."""
        task = asyncio.create_task(self._keep_alive())
        try:
            yield self
        finally:
            task.cancel()
            # asyncio.wait, not `await task` under suppress(CancelledError), which would also
            # swallow a cancellation of this block's own task (an aborted job).
            await asyncio.wait([task])
            await self.release()

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self._ttl_ms / 3000)
            try:
                if not await self.refresh():
                    # Stalled past the TTL: a new run may own the order now. The run's own
                    # checks (held()) stop it before it sends anything else.
                    logger.error("order %s: render lease lost", self.order_id)
                    return
            except Exception:  # a Redis blip: the next refresh may still be in time
                logger.warning("order %s: render lease refresh failed", self.order_id)


async def render_lease_held(redis: Redis, order_id: str) -> bool:
    """Whether some live run holds the order's lease."""
    return bool(await redis.exists(keys.render_lease(order_id)))


async def render_leases_held(redis: Redis, order_ids: Sequence[str]) -> list[bool]:
    """`render_lease_held` for each order, in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        for order_id in order_ids:
            pipe.exists(keys.render_lease(order_id))
        return [bool(held) for held in await pipe.execute()]
