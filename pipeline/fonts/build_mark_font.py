"""Rebuild the mark's font subset from Debian's fonts-noto-cjk (a maintainer's tool, not shipped).

    apt-get install -y fonts-noto-cjk && pip install fonttools
    python pipeline/fonts/build_mark_font.py

Keeps only the glyphs the visible AI mark draws (printable ASCII, the middle dot, 生成) from
Noto Sans CJK SC Bold, and renames the family: the OFL lets a modified version ship under another
name only. Writes pipeline/fonts/mark-cjk-subset.otf (~30 KB) next to this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
FONT_NUMBER = 2  # Noto Sans CJK SC Bold in Debian's collection
FAMILY = "Portrait Studio Mark CJK"
TEXT = "".join(chr(c) for c in range(0x20, 0x7F)) + "·生成"
OUT = Path(__file__).resolve().parent / "mark-cjk-subset.otf"


def main() -> None:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(SOURCE, fontNumber=FONT_NUMBER)
    options = subset.Options()
    options.layout_features = ["kern", "liga"]
    options.notdef_outline = True
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=TEXT)
    subsetter.subset(font)
    names = font["name"]
    for record in names.names:
        if record.nameID in (1, 16):
            record.string = FAMILY
        elif record.nameID == 4:
            record.string = f"{FAMILY} Bold"
        elif record.nameID in (3, 6):
            record.string = FAMILY.replace(" ", "") + "-Bold"
    font["CFF "].cff.fontNames = [FAMILY.replace(" ", "") + "-Bold"]
    font.save(OUT)
    print(f"{OUT}: {OUT.stat().st_size} bytes, {len(font.getGlyphOrder())} glyphs", file=sys.stderr)


if __name__ == "__main__":
    main()
