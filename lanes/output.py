"""Where command output goes: a regular file replaced atomically, or stdout.

`-o` only ever creates or replaces a regular file: a device, a FIFO, a socket, a
directory or a symbolic link at that path is refused (exit 2) and left as it was,
so `-o /dev/null` as root cannot replace the device, and a link cannot redirect a
write elsewhere. The new content is written beside the target and renamed over it.
"""
from __future__ import annotations

import os
import stat
import sys
import tempfile


class NotRegular(OSError):
    """The output path holds something other than a regular file."""


def _refuse_unless_regular(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return
    kind = ("a symbolic link" if stat.S_ISLNK(mode) else "a directory" if stat.S_ISDIR(mode)
            else "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    raise NotRegular(f"it is {kind}; only a regular file (or a missing one) is replaced")


def write_atomically(path: str, data: bytes | str) -> None:
    """Write next to the target and rename, so a reader never sees half a file."""
    _refuse_unless_regular(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".lanes-", dir=directory)
    try:
        # mkstemp makes the file private (0600); give it the mode open() would have
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        _refuse_unless_regular(path)          # checked again: it may have appeared meanwhile
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
        except NotRegular as exc:
            from lanes.render import safe
            print(f"lanes: refusing to write {safe(out)}: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            from lanes.render import safe
            print(f"lanes: cannot write {safe(out)}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    else:
        write_stdout(data)
    return 0


def write_stdout(data: bytes | str) -> None:
    """As is into a pipe or a file; on a terminal, text with control characters escaped."""
    from lanes.render import for_terminal, is_terminal
    if isinstance(data, bytes):
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        sys.stdout.write(for_terminal(data) if is_terminal(sys.stdout) else data)
