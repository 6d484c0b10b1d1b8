"""Make the screenshots of docs/views.md: the report and the graph of three workflows,
in headless Chromium 1,400 px wide.

    python docs/img/shoot.py

Writes docs/img/{fullstack,conflicting,large}-{report,graph}.png (as palette PNGs,
to keep them small). Only `lanes` and Chromium run; the workflows' commands never do.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from gen_workflow import generate  # noqa: E402  (bench/ is not a package)

WIDTH = 1400
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"


def lanes(*args: str | Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "lanes", *map(str, args)], capture_output=True, text=True,
                          check=False)
    if proc.returncode not in (0, 1):                # 1: a workflow with errors still draws
        raise SystemExit(proc.stderr)


def screenshot(url: str, out: Path, height: int, profile: Path) -> None:
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                    f"--user-data-dir={profile}", "--virtual-time-budget=3000", f"--window-size={WIDTH},{height}",
                    f"--screenshot={out}", url], capture_output=True, check=True, timeout=120)


def svg_height_at_width(svg: Path, width: int) -> int:
    """The height the picture takes when shrunk (never grown) to `width` px."""
    head = svg.read_text(encoding="utf-8")[:2000]
    w, h = (float(x) * 4 / 3 for x in re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"', head).groups())
    return int(h * min(1.0, width / w)) + 20


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> list[bytes]:
    stride, rows, prev = width * bpp, [], bytes(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
        elif kind == 4:
            for i in range(stride):
                a, b, c = (line[i - bpp] if i >= bpp else 0), prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = rows[-1]
    return rows


def shrink_png(path: Path) -> None:
    """Rewrite an RGB(A) screenshot as a 256-colour palette PNG (flat pictures lose nothing
    visible, and the file shrinks to about a third). Pure Python: no imaging library here."""
    data, pos, idat, header = path.read_bytes(), 8, b"", b""
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IHDR":
            header = data[pos + 8:pos + 8 + size]
        elif kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + size]
        pos += 12 + size
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    if depth != 8 or colour not in (2, 6):
        return
    bpp = 3 if colour == 2 else 4
    rows = [bytes(b for i, b in enumerate(row) if i % bpp < 3) if bpp == 4 else row
            for row in _unfilter(zlib.decompress(idat), width, height, bpp)]
    counts: Counter[bytes] = Counter(row[i:i + 3] for row in rows for i in range(0, width * 3, 3))
    groups: dict[tuple[int, ...], bytes] = {}
    for c, _ in counts.most_common():                  # the most frequent colour of each coarse group
        groups.setdefault(tuple(v >> 3 for v in c), c)
    palette = sorted(groups.values(), key=lambda c: -counts[c])[:256]
    index = {c: i for i, c in enumerate(palette)}
    for c in counts:
        if c not in index:
            index[c] = min(range(len(palette)), key=lambda i: sum((a - b) ** 2 for a, b in zip(c, palette[i],
                                                                                                strict=True)))
    body = b"".join(b"\0" + bytes(index[row[i:i + 3]] for i in range(0, width * 3, 3)) for row in rows)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    out = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
           + chunk(b"PLTE", b"".join(palette)) + chunk(b"IDAT", zlib.compress(body, 9)) + chunk(b"IEND", b""))
    if len(out) < len(data):
        path.write_bytes(out)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="lanes-shots-") as tmp:
        work = Path(tmp)
        large = work / "large.yaml"
        large.write_text(generate(200)[0], encoding="utf-8")
        shots = {"fullstack": ROOT / "examples" / "fullstack.yaml", "conflicting": HERE / "conflicting.yaml",
                 "large": large}
        for name, source in shots.items():
            report, svg = work / f"{name}.html", work / f"{name}.svg"
            lanes("report", source, "-o", report)
            lanes("graph", source, "-o", svg)
            screenshot(report.as_uri(), HERE / f"{name}-report.png", 1200, work / f"p-{name}-r")
            page = work / f"{name}-graph.html"
            page.write_text(f'<!DOCTYPE html><body style="margin:8px;background:#fff">'
                            f'<img src="{svg.name}" style="display:block;max-width:100%"></body>', encoding="utf-8")
            height = min(svg_height_at_width(svg, WIDTH - 16), 2400)
            screenshot(page.as_uri(), HERE / f"{name}-graph.png", height, work / f"p-{name}-g")
            for kind in ("report", "graph"):
                shrink_png(HERE / f"{name}-{kind}.png")
            print(f"{name}: report and graph ({height} px high)")


if __name__ == "__main__":
    main()
