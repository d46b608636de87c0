"""/metrics, /healthz and /readyz: scraped after a real flow, the counters have moved.

The real bot polls the emulator and a real intake worker checks the photo; the operator port is
the one every role serves (studio/metrics_server.py), here on a free port.
"""

from __future__ import annotations

import asyncio

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from studio import metrics
from studio.metrics_server import HealthServer
from tests.fixtures.bot import BotEnv


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_scrape_after_a_flow_shows_updates_bot_api_calls_jobs_and_queues(
    bot_env: BotEnv,
) -> None:
    ready = {"bot": True}

    async def readiness() -> dict[str, bool]:
        return dict(ready)

    server = await HealthServer(bot_env.studio.redis, readiness, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/metrics") as response:
                before = _samples(await response.text())
            user = 7301
            await bot_env.consent(user)
            await bot_env.send_headshot(user)
            # The job is counted when it returns, just after it sent the status message. The
            # registry is the process's: earlier tests' jobs are in `before`, so wait for this
            # one's count to move past it (not for the label to appear).
            checked = {"queue": "intake", "job": "check_photo", "outcome": "ok"}
            deadline = asyncio.get_running_loop().time() + 60
            while True:
                async with http.get(f"{base}/metrics") as response:
                    assert response.status == 200
                    assert response.headers["Content-Type"].startswith("text/plain")
                    text = await response.text()
                now = _value(_samples(text), "ps_jobs_total", **checked)
                if now > _value(before, "ps_jobs_total", **checked):
                    break
                assert asyncio.get_running_loop().time() < deadline, "the check never counted"
                await asyncio.sleep(0.05)
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
            async with http.get(f"{base}/readyz") as response:
                assert (response.status, await response.json()) == (
                    200,
                    {"bot": True, "redis": True},
                )
            ready["bot"] = False
            async with http.get(f"{base}/readyz") as response:
                assert response.status == 503
    finally:
        await server.stop()
    after = _samples(text)

    def moved(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert moved("ps_bot_updates_total", kind="command") >= 1  # /start
    assert moved("ps_bot_updates_total", kind="button") >= 1  # "I agree"
    assert moved("ps_bot_updates_total", kind="photo") >= 1
    assert moved("ps_bot_update_seconds_count", kind="command") >= 1
    assert moved("ps_bot_api_calls_total", method="sendmessage", result="ok") >= 2
    assert moved("ps_jobs_total", queue="intake", job="check_photo", outcome="ok") >= 1
    assert moved("ps_job_queue_wait_seconds_count", queue="intake", job="check_photo") >= 1
    assert moved("ps_intake_verdicts_total", role="headshot", status="accepted", reason="ok") == 1
    assert _value(after, "ps_queue_depth", queue="render") == 0
    assert _value(after, "ps_redis_up") == 1
    assert ("ps_orders", (("state", "open"),)) in after
    # No label names a user: the user's id is no label value and no sample's value (as a bare
    # substring it can turn up inside a float, e.g. a duration of 55.17301 s).
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert not any(str(user) in value for value in sample.labels.values()), sample
            assert sample.value != user, sample


def test_bot_api_results_are_classified() -> None:
    for status, result in ((200, "ok"), (429, "429"), (400, "client_error"), (502, "server_error")):
        before = metrics.BOT_API_CALLS.labels("getme", result)._value.get()
        metrics.record_bot_api_call("getme", status)
        assert metrics.BOT_API_CALLS.labels("getme", result)._value.get() == before + 1
