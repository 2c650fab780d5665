"""The one exception of pricing's rules; `domain` re-exports it."""

from __future__ import annotations


class PricingError(ValueError):
    """A row that cannot be priced; `code` is stable, `message` a human sentence."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
