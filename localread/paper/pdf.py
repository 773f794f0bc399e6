"""The text layer of a PDF, with limits: a PDF may be careless or hostile.

`pdf_text(path)` returns the text of the pages (ligatures folded) and the pages it
had to leave out. Limits, all explicit:

- inflation: pypdf refuses a compressed stream that inflates past its own limit
  (75 MB per stream in pypdf 6-7, `LimitReachedError`); such a page is left out, and
  after MAX_BAD_PAGES pages like it the PDF is refused as a decompression bomb, so a
  1 MB file that inflates to 1 GiB costs a few seconds and one line;
- pages: at most MAX_PDF_PAGES are read; a longer document is refused;
- work: pypdf extracts about 1 MB of page content per second, and a few KB of PDF
  can hold megabytes of it, so a page whose content passes MAX_PAGE_CONTENT is left
  out, and once the pages read pass MAX_PDF_CONTENT or MAX_PDF_SECONDS the rest are
  left out (named in the warning);
- text: extraction stops with an error as soon as the text passes `max_chars`;
- structure: a page pypdf cannot parse (a broken or too deeply nested object) is left
  out like a bomb page; a file whose trailer or page tree cannot be read is refused.

Every refusal is a LocalreadError with one line that says what to do.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import NamedTuple

from localread.errors import LocalreadError

MAX_PDF_PAGES = 2_000  # a long thesis has a few hundred
MAX_BAD_PAGES = 3  # pages left out before the whole file is refused
MAX_PAGE_CONTENT = 4 << 20  # a text page holds some 50 KB; dense vector figures a few MB
MAX_PDF_CONTENT = 48 << 20  # all pages: a long thesis stays far below
MAX_PDF_SECONDS = 120.0  # reading stops here; a paper takes seconds
MIN_WORDS = 20  # fewer words than this in a PDF's text layer: it is a scan

_LIGATURES = {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\u00ad": ""}
EXPORT = "export its text (for example `pdftotext PAPER.pdf PAPER.txt`) and pass the .txt"


class PdfText(NamedTuple):
    """The text of the pages read, and "page N: why" for each page left out."""

    text: str
    skipped: tuple[str, ...]


def pdf_text(path: Path, *, max_chars: int) -> PdfText:
    """The text layer of the PDF at path. Raises LocalreadError for an encrypted,
    broken, scanned, too long or decompression-bomb PDF, and as soon as the text
    passes max_chars characters."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    # pypdf logs every oddity of a file it works around, quoting the file (a hostile
    # one's escape sequences included) on stderr; the user cannot act on those.
    logging.getLogger("pypdf").setLevel(logging.CRITICAL + 1)
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise FileNotDecryptedError("password required")
        count = len(reader.pages)
    except (FileNotDecryptedError, DependencyError, NotImplementedError):
        raise LocalreadError(f"{path}: the PDF is encrypted; {EXPORT}") from None
    except LocalreadError:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf on a hostile file: any failure means "broken"
        raise LocalreadError(f"{path}: cannot be read as a PDF ({_what(exc)}); {EXPORT}") from None
    if count > MAX_PDF_PAGES:
        raise LocalreadError(
            f"{path}: {count:,} pages is more than the {MAX_PDF_PAGES:,} a paper may have; "
            "pass the paper alone, or only its method sections"
        )
    pages: list[str] = []
    skipped: list[str] = []
    length = 0
    content = 0
    started = time.monotonic()
    for n in range(count):
        if content > MAX_PDF_CONTENT or time.monotonic() - started > MAX_PDF_SECONDS:
            why = f"over {MAX_PDF_CONTENT >> 20} MiB of page content" if content > MAX_PDF_CONTENT else f"over {MAX_PDF_SECONDS:.0f} s"
            skipped.append(f"pages {n + 1}-{count}: not read, the pages before took {why}")
            break
        try:
            page_obj = reader.pages[n]
            size = _content_size(page_obj)
            content += size
            if size > MAX_PAGE_CONTENT:
                skipped.append(f"page {n + 1}: {size >> 20} MiB of page content, over the {MAX_PAGE_CONTENT >> 20} MiB a page may have")
                continue
            page = page_obj.extract_text() or ""
        except Exception as exc:  # noqa: BLE001 - a page pypdf cannot read is left out, as said
            skipped.append(f"page {n + 1}: {_what(exc)}")
            if len(skipped) >= MAX_BAD_PAGES:
                raise LocalreadError(
                    f"{path}: {len(skipped)} pages cannot be read ({skipped[0]}); "
                    f"a damaged PDF or a decompression bomb; {EXPORT}"
                ) from None
            continue
        length += len(page)
        if length > max_chars:
            raise LocalreadError(
                f"{path}: more than {max_chars:,} characters of text; "
                "pass the paper alone, or only its method sections"
            )
        pages.append(page)
    text = "\n".join(pages)
    for lig, repl in _LIGATURES.items():
        text = text.replace(lig, repl)
    if len(re.findall(r"[A-Za-z]{2,}", text)) < MIN_WORDS:
        left = f", {len(skipped)} unreadable" if skipped else ""
        raise LocalreadError(
            f"{path}: the PDF has no extractable text ({count} pages{left}; a scan?); "
            f"run OCR on it, or {EXPORT}"
        )
    return PdfText(text, tuple(skipped))


def _content_size(page: object) -> int:
    """Bytes of the page's content streams once decompressed (within pypdf's limit)."""
    contents = page.get_contents()  # type: ignore[attr-defined]
    return len(contents.get_data()) if contents is not None else 0


def _what(exc: BaseException) -> str:
    """An exception as a short phrase: pypdf's limit errors say which limit."""
    from pypdf import errors

    name = type(exc).__name__
    limit = getattr(errors, "LimitReachedError", None)  # pypdf >= 5: its inflation limits
    if limit is not None and isinstance(exc, limit):
        return "it inflates past pypdf's safety limit on decompressed data"
    if isinstance(exc, RecursionError):
        return "objects nested too deeply"
    if isinstance(exc, MemoryError):
        return "out of memory"
    message = " ".join(str(exc).split())[:120]
    return f"{name}: {message}" if message else name
