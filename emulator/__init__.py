"""Telegram Bot API emulator: the real HTTP protocol plus a control API to act as users."""
