"""Turn parse_mode markup into plain text plus MessageEntity list, with Telegram's errors."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from emulator.errors import ApiError, bad_request


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


_HTML_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}


def _entities_error(detail: str) -> ApiError:
    return bad_request(f"can't parse entities: {detail}")


class _TelegramHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.length = 0
        self.open: list[tuple[str, int, dict[str, Any]]] = []
        self.entities: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            raise _entities_error(f'Unsupported start tag "{tag}" at byte offset {self.length}')
        kind = _HTML_TAGS.get(tag)
        if kind is None:
            raise _entities_error(f'Unsupported start tag "{tag}" at byte offset {self.length}')
        extra: dict[str, Any] = {}
        attributes = dict(attrs)
        if tag == "a":
            extra["url"] = attributes.get("href") or ""
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            raise _entities_error('Tag "span" must have class "tg-spoiler"')
        self.open.append((tag, self.length, extra))

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1][0] != tag:
            raise _entities_error(f"Unexpected end tag at byte offset {self.length}")
        name, start, extra = self.open.pop()
        if self.length > start:
            self.entities.append(
                {"type": _HTML_TAGS[name], "offset": start, "length": self.length - start, **extra}
            )

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        self.length += utf16_len(data)


def parse_html(markup: str) -> tuple[str, list[dict[str, Any]]]:
    parser = _TelegramHTML()
    parser.feed(markup)
    parser.close()
    if parser.open:
        raise _entities_error(
            f'Can\'t find end tag corresponding to start tag "{parser.open[-1][0]}"'
        )
    return "".join(parser.text), sorted(parser.entities, key=lambda e: e["offset"])


_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_MARKERS: dict[str, str] = {
    "*": "bold",
    "_": "italic",
    "__": "underline",
    "~": "strikethrough",
    "||": "spoiler",
    "`": "code",
    "```": "pre",
}


def parse_markdown_v2(markup: str) -> tuple[str, list[dict[str, Any]]]:
    """A faithful-enough MarkdownV2 reader: reserved characters must be escaped."""
    out: list[str] = []
    length = 0
    entities: list[dict[str, Any]] = []
    open_marks: list[tuple[str, int]] = []
    link_start: int | None = None
    i = 0
    while i < len(markup):
        ch = markup[i]
        in_code = bool(open_marks) and open_marks[-1][0] in ("`", "```")
        if ch == "\\":
            if i + 1 < len(markup):
                out.append(markup[i + 1])
                length += utf16_len(markup[i + 1])
            i += 2
            continue
        marker = None
        for candidate in ("```", "__", "||", "*", "_", "~", "`"):
            if markup.startswith(candidate, i):
                marker = candidate
                break
        if marker is not None and (not in_code or marker == open_marks[-1][0]):
            if open_marks and open_marks[-1][0] == marker:
                _, start = open_marks.pop()
                if length > start:
                    entities.append(
                        {"type": _MDV2_MARKERS[marker], "offset": start, "length": length - start}
                    )
            else:
                open_marks.append((marker, length))
            i += len(marker)
            continue
        if not in_code and ch == "[" and link_start is None:
            link_start = length
            i += 1
            continue
        if not in_code and ch == "]" and link_start is not None:
            close = markup.find(")", i)
            if not markup.startswith("(", i + 1) or close < 0:
                raise _entities_error(f"Can't find end of a URL at byte offset {i}")
            url = markup[i + 2 : close]
            if length > link_start:
                entities.append(
                    {
                        "type": "text_link",
                        "offset": link_start,
                        "length": length - link_start,
                        "url": url,
                    }
                )
            link_start = None
            i = close + 1
            continue
        if not in_code and ch in _MDV2_RESERVED:
            raise _entities_error(
                f"Character '{ch}' is reserved and must be escaped with the preceding '\\'"
            )
        out.append(ch)
        length += utf16_len(ch)
        i += 1
    if open_marks:
        kind = _MDV2_MARKERS[open_marks[-1][0]]
        raise _entities_error(f"Can't find end of {kind.title()} entity at byte offset {i}")
    if link_start is not None:
        raise _entities_error(f"Can't find end of TextUrl entity at byte offset {i}")
    return "".join(out), sorted(entities, key=lambda e: e["offset"])


def parse_markdown_legacy(markup: str) -> tuple[str, list[dict[str, Any]]]:
    """Legacy Markdown: *bold*, _italic_, `code`; unclosed markers are an error."""
    out: list[str] = []
    length = 0
    entities: list[dict[str, Any]] = []
    kinds = {"*": "bold", "_": "italic", "`": "code"}
    open_mark: tuple[str, int] | None = None
    for ch in markup:
        if ch in kinds and (open_mark is None or open_mark[0] == ch):
            if open_mark is None:
                open_mark = (ch, length)
            else:
                if length > open_mark[1]:
                    entities.append(
                        {"type": kinds[ch], "offset": open_mark[1], "length": length - open_mark[1]}
                    )
                open_mark = None
            continue
        out.append(ch)
        length += utf16_len(ch)
    if open_mark is not None:
        raise _entities_error(f"Can't find end of the entity starting at byte offset {length}")
    return "".join(out), entities


def parse_text(
    markup: str, parse_mode: str | None, entities: Any
) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities for a text or caption, as Telegram would store them."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return parse_html(markup)
    if mode == "markdownv2":
        return parse_markdown_v2(markup)
    if mode == "markdown":
        return parse_markdown_legacy(markup)
    if mode:
        raise bad_request(f"unsupported parse_mode {parse_mode}")
    if entities is None:
        return markup, []
    if not isinstance(entities, list):
        raise bad_request("can't parse entities JSON object")
    return markup, entities
