"""The style-pack catalogue as the bot shows it, read from `pipeline.styles.STYLE_PACKS`.

That module is pure data (no torch), the one thing bot/ takes from pipeline/. Until it lands,
a stand-in catalogue with the same ids keeps the flow working.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PackInfo:
    """One pack's id and its name and one-line description per language."""

    id: str
    names: Mapping[str, str]
    descriptions: Mapping[str, str]

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names["en"]

    def description(self, lang: str) -> str:
        return self.descriptions.get(lang) or self.descriptions["en"]


_STAND_IN: tuple[PackInfo, ...] = (
    PackInfo(
        "studio",
        {"en": "Studio", "zh": "影棚"},
        {"en": "Clean studio light on a plain backdrop.", "zh": "纯色背景，干净的影棚光。"},
    ),
    PackInfo(
        "business",
        {"en": "Business", "zh": "商务"},
        {
            "en": "Suit and soft office light, for LinkedIn.",
            "zh": "西装与柔和的办公室光线，适合职场资料。",
        },
    ),
    PackInfo(
        "film",
        {"en": "Film noir", "zh": "黑色电影"},
        {"en": "Black and white with hard cinematic shadows.", "zh": "黑白画面与硬朗的电影阴影。"},
    ),
    PackInfo(
        "outdoor",
        {"en": "Golden hour", "zh": "黄金时刻"},
        {"en": "Outdoors in warm evening sunlight.", "zh": "户外温暖的傍晚阳光。"},
    ),
)


def style_packs() -> tuple[PackInfo, ...]:
    """Every pack a user can choose, in display order."""
    try:
        styles = importlib.import_module("pipeline.styles")
    except ModuleNotFoundError:
        return _STAND_IN
    raw: Any = styles.STYLE_PACKS
    items = list(raw.values()) if isinstance(raw, Mapping) else list(raw)
    return tuple(_adapt(item) for item in items)


def find_pack(pack_id: str) -> PackInfo | None:
    return next((pack for pack in style_packs() if pack.id == pack_id), None)


def _adapt(item: Any) -> PackInfo:
    pack_id = str(getattr(item, "id", None) or getattr(item, "pack_id", ""))
    return PackInfo(pack_id, _per_language(item, "name"), _per_language(item, "description"))


def _per_language(item: Any, field: str) -> dict[str, str]:
    value = getattr(item, field, None) or getattr(item, field + "s", None)
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return {lang: str(getattr(item, f"{field}_{lang}", "") or value or "") for lang in ("en", "zh")}
