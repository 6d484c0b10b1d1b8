"""Reading a workflow file: bounded, and every failure a value."""
from __future__ import annotations

import os
import stat

from .frozen import dataclass

MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Source:
    """A workflow file as read: its bytes and its text."""

    path: str                   # as the user gave it; spans carry it
    data: bytes                 # empty when the file was refused for its size
    text: str                   # decoded (undecodable bytes replaced)
    too_big: bool = False
    bad_utf8_at: int | None = None   # byte offset of the first byte that is not UTF-8

    @property
    def digest(self) -> str:
        # imported here: a run of a plan file reads one and never digests it
        import hashlib
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    @property
    def directory(self) -> str:
        return os.path.dirname(os.path.abspath(self.path))

    def line_col(self, byte_offset: int) -> tuple[int, int]:
        """1-based line and column (in characters) of a byte offset."""
        before = self.data[:byte_offset]
        line = before.count(b"\n") + 1
        last = before.rfind(b"\n")
        column = len(before[last + 1:].decode("utf-8", errors="replace")) + 1
        return line, column


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a directory"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    return "is not a regular file"


def read_regular(path: str, limit: int) -> tuple[bytes | None, str | None]:
    """At most `limit` + 1 bytes of a regular file, or (None, why). The file is opened
    without blocking and checked before anything is read, so a FIFO, a device or a
    directory is refused at once (a FIFO without a writer would block an ordinary open
    forever, and a device may never end)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        return None, f"{path}: no such file"
    except PermissionError:
        return None, f"{path}: permission denied"
    except IsADirectoryError:
        return None, f"{path}: is a directory"
    except OSError as exc:
        return None, f"{path}: cannot read: {exc.strerror or exc}"
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            return None, f"{path}: {_kind(mode)}"
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), None
    except OSError as exc:
        return None, f"{path}: cannot read: {exc.strerror or exc}"
    finally:
        os.close(fd)


def read_source(path: str) -> tuple[Source | None, str | None]:
    """(source, None), or (None, why) when the file cannot be read at all (exit 2: E000).

    Size and encoding problems are diagnostics (E100) made by the loader, so the
    source is still returned for them; a file over the limit is never read whole."""
    data, problem = read_regular(path, MAX_BYTES)
    if data is None:
        return None, problem
    if len(data) > MAX_BYTES:
        return Source(path, b"", "", too_big=True), None
    try:
        return Source(path, data, data.decode("utf-8")), None
    except UnicodeDecodeError as exc:
        return Source(path, data, data.decode("utf-8", errors="replace"), bad_utf8_at=exc.start), None
