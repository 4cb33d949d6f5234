"""What the browser tests share: Debian's Chromium, screenshots kept on request, and a
watch on everything a page asks for and complains about."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import ConsoleMessage, Page, Request, Route

CHROMIUM = Path("/usr/bin/chromium")  # Debian's, never one Playwright downloads


def shoot(page: Page, shots: Path, name: str) -> Path:
    """A full-page screenshot; set TILLPOINT_TEST_SHOTS=/some/dir to keep a copy."""
    path = shots / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    if keep := os.environ.get("TILLPOINT_TEST_SHOTS"):
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


@dataclass
class Watch:
    """Everything a page asked for, and everything the browser complained about (a style
    or script blocked by the CSP is a complaint too). Nothing from another site loads."""

    base: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def route(self, route: Route, request: Request) -> None:
        self.requests.append(request.url)
        if urlsplit(request.url).netloc == urlsplit(self.base).netloc:
            route.continue_()
        else:
            route.abort()  # a CDN, a font service, a tracker: none may load

    def console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"{message.type}: {message.text}")

    def elsewhere(self) -> list[str]:
        return [u for u in self.requests if urlsplit(u).netloc != urlsplit(self.base).netloc]
