"""Portrait Studio's domain: orders, sessions, payments, queue helpers, Redis keys, settings.

Imported by `bot/` and `worker.py`; imports neither, nor `pipeline/`.
"""
