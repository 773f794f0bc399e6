"""Headless Chromium for the report tests (Debian's `chromium`, driven by playwright,
which never downloads a browser here), and the Mermaid parser run inside it.

Neither is skipped when missing: a test that needs them fails with what to install
(`.ci/run` and `make browser` install them)."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import pvariance

import pytest

ROOT = Path(__file__).resolve().parent.parent
MERMAID_JS = ROOT / ".browser" / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"


def chromium_path() -> str:
    found = os.environ.get("LOCALREAD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium is not installed: `apt-get install -y chromium` (.ci/run does it); "
                    "the browser tests never skip", pytrace=False)
    return found


def mermaid_js() -> Path:
    if not MERMAID_JS.is_file():
        pytest.fail(f"the Mermaid parser is missing ({MERMAID_JS}): run `make browser` (needs npm)", pytrace=False)
    return MERMAID_JS


@contextmanager
def offline_page(allowed: Path) -> Iterator[tuple[object, list[str]]]:
    """A Chromium page in which every request outside `allowed` (a folder, as file://)
    is aborted and recorded: yields (page, refused URLs)."""
    from playwright.sync_api import sync_playwright

    prefix = allowed.resolve().as_uri() + "/"
    refused: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900}, service_workers="block")

            def route(r: object) -> None:
                url = r.request.url  # type: ignore[attr-defined]
                if url.startswith(prefix) or url == "about:blank":
                    r.continue_()  # type: ignore[attr-defined]
                else:
                    refused.append(url)
                    r.abort()  # type: ignore[attr-defined]

            context.route("**/*", route)
            page = context.new_page()
            yield page, refused
        finally:
            browser.close()


def pixel_variance(png: bytes) -> float:
    """The variance of a screenshot's grey levels: 0 for a blank page."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L").resize((200, 150))
    return pvariance(image.tobytes())
