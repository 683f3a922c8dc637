"""Logging: one ``ts= level= msg=`` line per event, and a client's mistake is not a crash.

When a request body cannot be read (``Content-Encoding: gzip`` on a body that is not gzip, a
broken chunked encoding), the handler answers 400; aiohttp then drains the rest of the body,
meets the same error again and logs it from ``aiohttp.server`` as ``ERROR Unhandled
exception`` with a chained traceback. That is the client's error, already answered, so
:class:`ClientErrors` turns such a record into one WARN line without the traceback.
"""

from __future__ import annotations

import logging
import sys

from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

FORMAT = "ts=%(asctime)s level=%(levelname)s msg=%(message)s"


class ClientErrors(logging.Filter):
    """Rewrites a logged client-side body error as one WARN line (others pass unchanged)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        client = isinstance(exc, RequestPayloadError) or (
            isinstance(exc, HttpProcessingError) and 400 <= (exc.code or 0) < 500)
        if not client:
            return True
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg = "client error: request body cannot be read (%s); answered 400, nothing applied"
        record.args = (" ".join(str(exc).split()),)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return logging.getLogger().isEnabledFor(logging.WARNING)


def setup(level: str) -> None:
    """Configure the root logger on stderr and filter aiohttp's server log."""
    logging.basicConfig(level=level, stream=sys.stderr, format=FORMAT)
    logging.getLogger("aiohttp.server").addFilter(ClientErrors())
