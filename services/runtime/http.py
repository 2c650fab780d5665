"""Small pieces every HTTP API needs beyond FastAPI."""

from __future__ import annotations

from fastapi import Request


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, but no more than `limit` + 1 bytes: a longer body is cut there, so
    the caller can refuse it (len > limit) without holding all of it. Chunks are gathered
    in one buffer (appending to bytes would copy the whole body again for every chunk)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            del body[limit + 1 :]
            break
    return bytes(body)
