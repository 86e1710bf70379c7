"""The one base class of the refusals services raise; each code has one translated sentence in portal.messages."""

from __future__ import annotations


class ServiceError(Exception):
    """Something a user asked for that cannot be done; `code` names why (see portal.messages.MESSAGES)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code
