"""Logging of the `atilax` processes: one stderr handler, the configured level, secrets in URLs masked.

Every record that reaches a root handler passes :class:`SecretMaskingFilter`, which masks the password and the
secret query parameters of any URL in the message and in the traceback text (a library may log a URL as
given, e.g. httpx's ``HTTP Request: POST https://user:pw@host/...``).
"""
from __future__ import annotations

import logging

from tb_bridge.config import mask_urls_in_text

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Libraries that log routine detail at INFO (every HTTP request, every Alembic plugin loaded): kept at WARNING
#: unless the level is DEBUG.
CHATTY_LOGGERS = ("httpx", "httpcore", "alembic.runtime.plugins")


class SecretMaskingFilter(logging.Filter):
    """Rewrites a record's message (and traceback text) with every URL's secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_urls_in_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_urls_in_text(record.exc_text)
        return True


def configure_logging(level: int) -> None:
    """Root level ``level``; a stderr handler when the root has none; the masking filter on every root handler."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format=FORMAT)
    root.setLevel(level)
    for handler in root.handlers:
        if not any(isinstance(f, SecretMaskingFilter) for f in handler.filters):
            handler.addFilter(SecretMaskingFilter())
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if level <= logging.DEBUG else logging.WARNING)
