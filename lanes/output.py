"""Where command output goes: a file replaced atomically, or stdout."""
from __future__ import annotations

import os
import sys
import tempfile


def write_atomically(path: str, data: bytes | str) -> None:
    """Write next to the target and rename, so a reader never sees half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".lanes-", dir=directory)
    try:
        # mkstemp makes the file private (0600); give it the mode open() would have
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def emit(out: str | None, data: bytes | str) -> int:
    """Write to `out`, or stdout; 0, or 2 with a message when the file cannot be written."""
    if out:
        try:
            write_atomically(out, data)
        except OSError as exc:
            print(f"lanes: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    elif isinstance(data, bytes):
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        sys.stdout.write(data)
    return 0
