"""Durations as authors write them (`90`, `1m30s`, `250ms`) and back: parsed by the
builder, printed by `lanes fmt`, the briefs, the report and the diagrams. Kept apart
from those so that rendering a brief at run time does not load the front ends."""
from __future__ import annotations

import math
import re

_DURATION = re.compile(
    r"(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m(?!s))?(?:(?P<s>\d+(?:\.\d+)?)s)?"
    r"(?:(?P<ms>\d+(?:\.\d+)?)ms)?\Z")
NUMBER = re.compile(r"\d+(?:\.\d+)?\Z")
INFINITE = "9" * 309         # parses back to the float('inf') that the builder made of such a number


def parse_duration(text: str) -> float | None:
    """Seconds for `90`, `90s`, `5m`, `1h30m`, `250ms`; None when it is not a duration."""
    text = text.strip()
    if NUMBER.match(text):
        value = float(text)
        return value if math.isfinite(value) else None
    m = _DURATION.match(text)
    if not text or not m or not any(m.groupdict().values()):
        return None
    g = {k: float(v) if v else 0.0 for k, v in m.groupdict().items()}
    value = g["h"] * 3600 + g["m"] * 60 + g["s"] + g["ms"] / 1000
    return value if math.isfinite(value) else None


def decimal(x: float) -> str:
    """The shortest plain decimal that parses back to exactly x (no exponent)."""
    if not math.isfinite(x):
        return INFINITE
    text = repr(x)
    if "e" in text or "E" in text:
        from decimal import Decimal  # here: only for such numbers (1 ms of every start)
        text = format(Decimal(x), "f")
    return text.removesuffix(".0")


def duration(seconds: float) -> str:
    """Canonical duration: 250ms, 90 -> 1m30s, 5m, 1h30m, 1.5 -> 1s500ms; exact whatever the value."""
    if not math.isfinite(seconds):
        return INFINITE + "s"
    whole = math.floor(seconds)
    ms = round((seconds - whole) * 1000.0, 6)
    if not ms.is_integer():                       # below a millisecond: plain seconds
        return decimal(seconds) + "s"
    h, rest = divmod(int(whole), 3600)
    m, s = divmod(rest, 60)
    text = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    text = (text + (f"{int(ms)}ms" if ms else "")) or "0s"
    # the pretty form must read back as the very same float; else the plain number of seconds
    return text if parse_duration(text) == seconds else decimal(seconds) + "s"
