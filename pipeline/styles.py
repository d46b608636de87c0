"""Style packs: pure data (names, prompts, shot lists) plus deterministic seeds per order."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import cycle, islice

ANGLES: tuple[str, ...] = ("frontal", "three-quarter left", "three-quarter right", "slight profile")
EXPRESSIONS: tuple[str, ...] = (
    "gentle smile",
    "neutral expression",
    "laughing",
    "serious expression",
)

_BASE_NEGATIVE = (
    "deformed, distorted face, extra fingers, extra limbs, blurry, lowres, watermark, text, "
    "logo, cartoon, 3d render, plastic skin, cross-eyed, nsfw"
)


@dataclass(frozen=True)
class Shot:
    """One planned portrait: how the head is turned, how it is lit, what the face does."""

    angle: str
    lighting: str
    expression: str
    framing: str = "half-body portrait"

    def describe(self) -> str:
        return f"{self.framing}, {self.angle} view, {self.expression}, {self.lighting}"


@dataclass(frozen=True)
class StylePack:
    """A purchasable style; `id` is short ASCII because it travels in callback_data."""

    id: str
    name_en: str
    name_zh: str
    description_en: str
    description_zh: str
    prompt_template: str  # "{shot}" is replaced by Shot.describe()
    negative_prompt: str
    shots: tuple[Shot, ...]

    def prompt(self, shot: Shot) -> str:
        return self.prompt_template.format(shot=shot.describe())

    def reference_prompt(self, shot: Shot, references: int) -> str:
        """The prompt for a reference-image generator: keep the person, restage the picture.

        Editing models (FLUX.2 [klein], Qwen-Image-Edit) take no negative prompt, so what the
        negative prompt avoids is asked for positively here: one person, a clean frame.
        """
        which = "image 1" if references == 1 else f"images 1 to {references}"
        return (
            f"The same person as in reference {which}: keep their face, identity, hair and skin "
            f"tone exactly. New photograph of them alone, {self.prompt(shot)}, no text, "
            "no watermark, one person only, realistic photo"
        )


def plan_shots(lightings: tuple[str, ...], count: int = 20) -> tuple[Shot, ...]:
    """`count` half-body shots cycling angles and expressions against the pack's lightings."""
    # Angles and expressions have the same length, so offset expressions by the lap number
    # to pair every angle with every expression over 16 shots.
    shots = []
    for i, lighting in enumerate(islice(cycle(lightings), count)):
        lap = i // len(ANGLES)
        shots.append(
            Shot(
                angle=ANGLES[i % len(ANGLES)],
                lighting=lighting,
                expression=EXPRESSIONS[(i + lap) % len(EXPRESSIONS)],
            )
        )
    return tuple(shots)


def _pack(
    id: str,
    name_en: str,
    name_zh: str,
    description_en: str,
    description_zh: str,
    look: str,
    lightings: tuple[str, ...],
    negative_extra: str = "",
) -> StylePack:
    return StylePack(
        id=id,
        name_en=name_en,
        name_zh=name_zh,
        description_en=description_en,
        description_zh=description_zh,
        prompt_template="photo of a person, {shot}, "
        + look
        + ", sharp focus on the eyes, natural skin texture, 85mm lens, high detail",
        negative_prompt=_BASE_NEGATIVE + (", " + negative_extra if negative_extra else ""),
        shots=plan_shots(lightings),
    )


STYLE_PACKS: dict[str, StylePack] = {
    p.id: p
    for p in (
        _pack(
            "business",
            "Studio business",
            "商务棚拍",
            "Crisp corporate headshots on a neutral backdrop.",
            "中性背景下干净利落的职业形象照。",
            "tailored dark suit, light grey seamless studio backdrop, professional headshot",
            ("soft key light with fill", "clamshell beauty lighting", "rembrandt lighting"),
        ),
        _pack(
            "window",
            "Window light",
            "窗边自然光",
            "Soft daylight from a large window, calm and natural.",
            "大窗柔和日光，自然安静。",
            "casual knit sweater, bright airy apartment interior, shallow depth of field",
            (
                "soft window light from the side",
                "backlit by a window with bounce fill",
                "overcast daylight through sheer curtains",
            ),
        ),
        _pack(
            "golden",
            "Golden hour",
            "黄金时刻",
            "Warm outdoor portraits in the last hour of sunlight.",
            "日落前一小时的温暖户外人像。",
            "outdoors in a meadow, warm tones, bokeh background",
            (
                "golden hour sun behind, rim light",
                "low warm sun from the side",
                "open shade with warm reflector",
            ),
        ),
        _pack(
            "bw",
            "Black-and-white classic",
            "经典黑白",
            "Timeless monochrome portraits with strong contrast.",
            "对比强烈、历久弥新的黑白肖像。",
            "black and white photograph, monochrome, fine film grain, dark backdrop",
            ("dramatic split lighting", "low-key single softbox", "butterfly lighting"),
            "color, colour, saturated",
        ),
        _pack(
            "film",
            "35mm film",
            "胶片质感",
            "Nostalgic colour film look with grain and gentle fade.",
            "带颗粒与褪色感的怀旧彩色胶片。",
            "shot on Kodak Portra 400, analog film grain, muted colours, city street",
            (
                "late afternoon street light",
                "neon shop sign glow at dusk",
                "diffuse cloudy daylight",
            ),
        ),
        _pack(
            "hanfu",
            "Traditional Chinese dress",
            "传统汉服",
            "Elegant hanfu portraits in a classical garden.",
            "古典园林中的优雅汉服写真。",
            "wearing traditional Chinese hanfu, silk embroidery, classical garden with "
            "moon gate and pavilion",
            ("soft lantern light", "dappled light through bamboo", "misty morning light"),
        ),
    )
}


def seeds_for(order_id: str, count: int, attempt: int = 0) -> list[int]:
    """`count` 32-bit seeds derived from the order id: a re-run gives the same images."""
    seeds = []
    for i in range(count):
        digest = hashlib.sha256(f"{order_id}:{attempt}:{i}".encode()).digest()
        seeds.append(int.from_bytes(digest[:4], "big"))
    return seeds
