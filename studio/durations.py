"""Moving averages of how long the two stages take: rendering (GPU) and sending (Telegram).

The wait estimate (`studio.queue.eta_seconds`) multiplies them out; every finished render and
delivery folds its time in with one script, so concurrent workers never lose an update.
"""

from __future__ import annotations

from redis.asyncio import Redis

from studio import keys
from studio.settings import Settings

EWMA_ALPHA = 0.2


_EWMA = """
local old = redis.call('GET', KEYS[1])
local new = tonumber(ARGV[1])
if old then new = tonumber(old) * (1 - tonumber(ARGV[2])) + new * tonumber(ARGV[2]) end
redis.call('SET', KEYS[1], tostring(new))
return tostring(new)
"""


async def record_render_duration(redis: Redis, seconds: float) -> float:
    """Fold one finished render (GPU stage) into the moving average the ETA uses."""
    script = redis.register_script(_EWMA)
    return float(await script(keys=[keys.RENDER_DURATION_EWMA], args=[seconds, EWMA_ALPHA]))


async def record_delivery_duration(redis: Redis, seconds: float) -> float:
    """Fold one finished delivery (sending stage) into its moving average."""
    script = redis.register_script(_EWMA)
    return float(await script(keys=[keys.DELIVERY_DURATION_EWMA], args=[seconds, EWMA_ALPHA]))


async def stage_seconds(redis: Redis, settings: Settings) -> tuple[float, float]:
    """(render, delivery) seconds, read together: one round trip."""
    render, delivery = await redis.mget(keys.RENDER_DURATION_EWMA, keys.DELIVERY_DURATION_EWMA)
    return (
        float(render) if render else settings.render_seconds_default,
        float(delivery) if delivery else settings.delivery_seconds_default,
    )
