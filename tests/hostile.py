"""Helpers for the hostile-input tests (tests/test_hostile*.py): running the command
line as a user would, as a user without privileges, on a full disk, on a terminal,
and checking that nothing was written outside the cache and --out."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import zlib
from pathlib import Path
from typing import NamedTuple

import pytest


class Run(NamedTuple):
    rc: int
    stdout: str
    stderr: str


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under root (links not followed): path -> "size mtime". Taken with
    find(1), which walks trees far deeper than the system's path length (2,500
    folders) where os.walk would recurse past Python's limit."""
    listing = subprocess.run(
        ["find", str(root), "-mindepth", "1", "-printf", "%P\\t%s %T@\\n"],
        capture_output=True, text=True, check=True,
    ).stdout
    return dict(line.split("\t", 1) for line in listing.splitlines())


def remove_tree(root: Path) -> None:
    """Delete a tree of any depth. rm(1) walks relative to folder descriptors; shutil
    and pytest's own clean-up recurse past Python's limit on 2,500 nested folders (and
    pytest would then fail at the end of a later session)."""
    subprocess.run(["rm", "-rf", "--", str(root)], check=False)


def env_for(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a run: the caller's (the test's isolated cache and config),
    a TMPDIR of its own (checked to stay empty), and extra."""
    tmpdir = tmp / "tmpdir"
    tmpdir.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmpdir), "PYTHONDONTWRITEBYTECODE": "1", **extra}


def localread(*args: str, env: dict[str, str], cwd: Path | None = None, prefix: tuple[str, ...] = (), timeout: float = 120) -> Run:
    """`python -m localread ARGS` as a subprocess (stdout and stderr pipes)."""
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "localread", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout, check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def on_terminal(*args: str, env: dict[str, str], timeout: float = 120) -> str:
    """`python -m localread ARGS` with stdout and stderr on a pseudo-terminal; what the
    terminal received."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "localread", *args],
        stdin=slave, stdout=slave, stderr=slave, env={**env, "COLUMNS": "200"}, close_fds=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                proc.kill()
                raise AssertionError("no output from the terminal run")
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        proc.wait(timeout=timeout)
    return b"".join(chunks).decode("utf-8", errors="replace")


def assert_one_line_error(run: Run, *needles: str) -> None:
    """Exit 1, one `error: ...` line on stderr naming every needle, no traceback."""
    assert run.rc == 1, run
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def assert_warned(run: Run, *needles: str) -> str:
    """Exit 0, a single `warning: ...` line on stderr naming every needle."""
    assert run.rc == 0, run
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: "), run.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def unprivileged_prefix() -> tuple[str, ...]:
    """A command prefix under which file permissions hold: nothing for a normal user;
    for root, a new user namespace (`unshare -U`), where root's privilege over files
    is gone. Skips the test where neither is possible."""
    if os.geteuid() != 0:
        return ()
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("running as root without unshare: file permissions cannot be tested")
    probe = subprocess.run([unshare, "-U", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("running as root and user namespaces are not allowed here")
    return (unshare, "-U")


def full_disk_prefix() -> tuple[str, ...]:
    """A command prefix giving the command a private mount namespace where it may
    mount a small tmpfs (root: `unshare -m`; others: `unshare -rm`). Skips the test
    where that is not allowed."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare: a full disk cannot be made")
    prefix = (unshare, "-m") if os.geteuid() == 0 else (unshare, "-r", "-m")
    probe = subprocess.run(
        [*prefix, "sh", "-c", "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d && umount $d && rmdir $d"],
        capture_output=True, check=False,
    )
    if probe.returncode != 0:
        pytest.skip("mount namespaces with tmpfs are not allowed here: a full disk cannot be made")
    return prefix


# --------------------------------------------------------------------------- PDFs


def inflating_stream(gib: int = 1) -> bytes:
    """A zlib stream of about 1 MB per GiB that inflates to `gib` GiB of spaces. Built
    from one full-flushed block repeated (each inflates to 16 MiB by itself), so it
    costs a second to make, not the minutes compressing 1 GiB would."""
    chunk = b" " * (1 << 24)
    comp = zlib.compressobj(9)
    first = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    count = 64 * gib
    adler = 1
    for _ in range(count):
        adler = zlib.adler32(chunk, adler)
    return first + block * (count - 1) + b"\x03\x00" + adler.to_bytes(4, "big")


def text_stream(words: str) -> bytes:
    """A PDF content stream showing words in Helvetica."""
    escaped = words.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"BT /F1 11 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1", errors="replace")


def write_pdf(path: Path, pages: list[tuple[bytes, str | None]]) -> Path:
    """A PDF with one page per (content stream, filter name or None), built by hand
    (fpdf2 always compresses its own way; these streams are what the tests choose)."""
    n = len(pages)
    font = 3 + 2 * n
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{' '.join(f'{3 + 2 * i} 0 R' for i in range(n))}] /Count {n} >>".encode(),
    ]
    for i, (data, filter_name) in enumerate(pages):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 {font} 0 R >> >>"
            f" /Contents {4 + 2 * i} 0 R >>".encode()
        )
        filt = f" /Filter /{filter_name}" if filter_name else ""
        objects.append(f"<< /Length {len(data)}{filt} >>\nstream\n".encode() + data + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(out)
    return path
