"""The SMS-gateway port (ACCESS.md: a real gateway in production, a file sink in
development, never a log line). The code is never logged, by either adapter."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Protocol


class SmsGateway(Protocol):
    async def send(self, phone: str, text: str, *, at: datetime) -> None: ...


class FileSmsGateway:
    """Development: appends one JSON line per message to a file readable by the owner only."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def send(self, phone: str, text: str, *, at: datetime) -> None:
        line = json.dumps({"at": at.isoformat(), "to": phone, "text": text}) + "\n"
        await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as out:
            out.write(line)

    def messages(self) -> list[dict[str, str]]:
        """What was sent (tests, the local suite)."""
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line]


class HttpSmsGateway:
    """Production: POSTs `{to, text}` as JSON to the gateway's URL (standard library, in a
    worker thread). A failure raises; the caller answers 503 and the code is not reused."""

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self.url = url
        self.timeout_s = timeout_s

    async def send(self, phone: str, text: str, *, at: datetime) -> None:
        body = json.dumps({"to": phone, "text": text}).encode()
        await asyncio.to_thread(self._post, body)

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(  # noqa: S310 (http(s) checked by the settings)
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
            if response.status >= 300:
                raise OSError(f"SMS gateway answered {response.status}")
