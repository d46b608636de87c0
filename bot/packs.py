"""The style-pack catalogue as the bot shows it, from `pipeline.styles.STYLE_PACKS`.

That module is pure data (no torch): the one thing bot/ takes from pipeline/.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.styles import STYLE_PACKS


@dataclass(frozen=True)
class PackInfo:
    """One pack's id and its name and one-line description per language."""

    id: str
    names: dict[str, str]
    descriptions: dict[str, str]

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names["en"]

    def description(self, lang: str) -> str:
        return self.descriptions.get(lang) or self.descriptions["en"]


def style_packs() -> tuple[PackInfo, ...]:
    """Every pack a user can choose, in catalogue order."""
    return tuple(
        PackInfo(
            pack.id,
            {"en": pack.name_en, "zh": pack.name_zh},
            {"en": pack.description_en, "zh": pack.description_zh},
        )
        for pack in STYLE_PACKS.values()
    )


def find_pack(pack_id: str) -> PackInfo | None:
    return next((pack for pack in style_packs() if pack.id == pack_id), None)
