"""Render and delivery texts (temporary home until bot/texts/ lands; then they move there)."""

from __future__ import annotations

from typing import Any

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "queue_position": (
            "You're number {position} in the queue. Your portraits should be ready in about {eta}."
        ),
        "render_started": "Your portraits are being made now…",
        "render_progress": "Rendering your portraits: {done}/{total}",
        "album_caption": "Your portraits {first}–{last} of {total}",
        "document_caption": "Portrait {number} of {total}, full resolution",
        "delivered": "All {total} portraits are here. Thank you for using Portrait Studio!",
        "refund_apology": (
            "We're sorry: we couldn't make your portraits this time. Your {amount} Stars have "
            "been refunded. You're welcome to try again with different photos."
        ),
        "eta_minutes": "{minutes} min",
        "eta_hours": "{hours} h {minutes} min",
    },
    "zh": {
        "queue_position": "您在队列中排第 {position} 位，预计约 {eta} 后完成。",
        "render_started": "正在为您生成肖像…",
        "render_progress": "正在生成肖像：{done}/{total}",
        "album_caption": "您的肖像 {first}–{last}，共 {total} 张",
        "document_caption": "肖像 {number}/{total}，原始分辨率",
        "delivered": "全部 {total} 张肖像已送达。感谢使用 Portrait Studio！",
        "refund_apology": (
            "非常抱歉，这次未能为您生成肖像。您支付的 {amount} 颗星已退还。欢迎换一些照片再试一次。"
        ),
        "eta_minutes": "{minutes} 分钟",
        "eta_hours": "{hours} 小时 {minutes} 分钟",
    },
}


def render_text(lang: str, key: str, **values: Any) -> str:
    """The text in the user's language (English when the language is unknown)."""
    table = _TEXTS.get(lang, _TEXTS["en"])
    return table[key].format(**values)


def eta_text(lang: str, seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return render_text(lang, "eta_minutes", minutes=minutes)
    return render_text(lang, "eta_hours", hours=minutes // 60, minutes=minutes % 60)
