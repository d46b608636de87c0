"""setMessageReaction: the bot's reaction on a message, as the Bot API takes it.

Kept per message for the control API (`GET chats/{id}/messages` shows `reactions`). A reaction
is not a message: it adds nothing to the chat's flood bucket (bot_api.FLOOD_COSTS), only to the
bot-wide one (bot_api.GLOBAL_ONLY_COSTS), which is this emulator's reading of Telegram's limits.
"""

from __future__ import annotations

from typing import Any

from emulator.errors import bad_request, missing
from emulator.params import Params
from emulator.state import EmulatorState

# The emoji a ReactionTypeEmoji may carry (Bot API, ReactionTypeEmoji), in the docs' order.
REACTION_EMOJI = frozenset(
    {
        "👍",
        "👎",
        "❤",
        "🔥",
        "🥰",
        "👏",
        "😁",
        "🤔",
        "🤯",
        "😱",
        "🤬",
        "😢",
        "🎉",
        "🤩",
        "🤮",
        "💩",
        "🙏",
        "👌",
        "🕊",
        "🤡",
        "🥱",
        "🥴",
        "😍",
        "🐳",
        "❤️\u200d🔥",
        "🌚",
        "🌭",
        "💯",
        "🤣",
        "⚡",
        "🍌",
        "🏆",
        "💔",
        "🤨",
        "😐",
        "🍓",
        "🍾",
        "💋",
        "🖕",
        "😈",
        "😴",
        "😭",
        "🤓",
        "👻",
        "👨\u200d💻",
        "👀",
        "🎃",
        "🙈",
        "😇",
        "😨",
        "🤝",
        "✍",
        "🤗",
        "🫡",
        "🎅",
        "🎄",
        "☃",
        "💅",
        "🤪",
        "🗿",
        "🆒",
        "💘",
        "🙉",
        "🦄",
        "😘",
        "💊",
        "🙊",
        "😎",
        "👾",
        "🤷\u200d♂️",
        "🤷",
        "🤷\u200d♀️",
        "😡",
    }
)
# A bot (never a Premium user) sets at most one reaction per message.
MAX_BOT_REACTIONS = 1


def _reaction(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise bad_request("can't parse reaction types JSON object")
    kind = item["type"]
    if kind == "emoji":
        if item.get("emoji") not in REACTION_EMOJI:
            raise bad_request("REACTION_INVALID")
        return {"type": "emoji", "emoji": item["emoji"]}
    if kind == "custom_emoji":
        # Custom emoji need a Premium sender or the chat's own set: never a bot in a private chat.
        raise bad_request("REACTION_INVALID")
    if kind == "paid":
        raise bad_request("bots can't use paid reactions")
    raise bad_request("can't parse reaction types JSON object")


async def set_message_reaction(state: EmulatorState, params: Params) -> Any:
    chat = state.chat(params.get_str("chat_id"))
    message_id = params.get_int("message_id")
    if message_id is None:
        raise missing("message_id")
    message = chat.live(message_id)
    if message is None:
        raise bad_request("MESSAGE_ID_INVALID")
    raw = params.get_json("reaction")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise bad_request("can't parse reaction types JSON object")
    reactions = [_reaction(item) for item in raw]
    if len(reactions) > MAX_BOT_REACTIONS:
        raise bad_request("REACTIONS_TOO_MANY")
    # An empty list removes the bot's reaction; a new one replaces it.
    message.bot_reactions = reactions
    message.reaction_log.append({"reaction": reactions, "is_big": bool(params.get_bool("is_big"))})
    return True
