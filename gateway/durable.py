"""Files written to survive a crash: what the quarantine and the console's staff reports keep.

Purpose: one way to write a new file durably -- created exclusively, readable by its owner only,
written in full, fsync'ed before anyone is told it exists -- and to leave nothing behind when
that fails (a full disk, an I/O error), as Postfix removes a half-written queue file.

Untrusted input: the data (a stranger's message); the path is ours.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path


def write_new(path: Path, data: bytes) -> None:
    """Create `path` (it must not exist; mode 0600), write all of `data` and fsync it. On any
    failure the partial file is removed and the error raised."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with suppress(OSError):
            path.unlink(missing_ok=True)
        raise


def fsync_dir(path: Path) -> None:
    """fsync a folder, so that a file created or renamed in it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
