"""Make docs/report.png, the README's picture of the HTML report:

    .venv/bin/python docs/screenshot.py   (or: make screenshot)

It writes `localread report examples/segment_demo` into a temporary folder and takes
a screenshot of its reading path with headless Debian chromium (playwright driving
/usr/bin/chromium, nothing downloaded, every request outside the folder refused)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "site"
        subprocess.run([sys.executable, "-m", "localread", "report", str(ROOT / "examples" / "segment_demo"),
                        "--out", str(out)], check=True)
        prefix = out.as_uri() + "/"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(prefix) else r.abort())
            page.goto((out / "index.html").as_uri() + "#paths")
            page.screenshot(path=str(ROOT / "docs" / "report.png"))
            browser.close()
    print(ROOT / "docs" / "report.png")


if __name__ == "__main__":
    main()
