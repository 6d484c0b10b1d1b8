"""Reading a workflow file: bounded, and every failure a value."""
from __future__ import annotations

from dataclasses import dataclass
import hashlib
import os

MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Source:
    path: str                   # as the user gave it; spans carry it
    data: bytes                 # empty when the file was refused for its size
    text: str                   # decoded (undecodable bytes replaced)
    too_big: bool = False
    bad_utf8_at: int | None = None   # byte offset of the first byte that is not UTF-8

    @property
    def digest(self) -> str:
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


def read_source(path: str) -> tuple[Source | None, str | None]:
    """(source, None), or (None, why) when the file cannot be read at all (exit 2).

    Size and encoding problems are diagnostics (E100) made by the loader, so the
    source is still returned for them; a file over the limit is never read whole."""
    try:
        if os.path.isdir(path):
            return None, f"{path}: is a directory"
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None, f"{path}: no such file"
    except PermissionError:
        return None, f"{path}: permission denied"
    except OSError as exc:
        return None, f"{path}: cannot read: {exc.strerror or exc}"
    if len(data) > MAX_BYTES:
        return Source(path, b"", "", too_big=True), None
    try:
        return Source(path, data, data.decode("utf-8")), None
    except UnicodeDecodeError as exc:
        return Source(path, data, data.decode("utf-8", errors="replace"), bad_utf8_at=exc.start), None
