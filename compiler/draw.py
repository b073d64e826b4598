"""A picture of a placement and its routes, as PNG bytes (NumPy and zlib only).

Units are squares between their corner switches: PCUs blue, PMUs green, pale when
unused. Switches are grey dots; every switch-to-switch link a net uses is drawn in the
net's colour (vector nets solid, scalar nets thinner), unit and port attachments as a
short stub to the unit's centre or to the fabric edge.
"""

import struct
import zlib

import numpy as np

from hw.interconnect import SIDES, interconnect

__all__ = ["draw_placement", "png_bytes"]

CELL = 48
MARGIN = 24
_PALETTE = np.array([
    (230, 25, 75), (245, 130, 48), (145, 30, 180), (240, 50, 230), (0, 130, 200),
    (128, 0, 0), (170, 110, 40), (0, 0, 128), (128, 128, 0), (60, 180, 75),
], dtype=np.uint8)


def png_bytes(rgb):
    """Encode an ``(h, w, 3)`` uint8 array as PNG."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(tag, body):
        return (struct.pack(">I", len(body)) + tag + body +
                struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _xy(pos):
    i, j = pos
    return MARGIN + j * CELL, MARGIN + i * CELL


def _line(img, a, b, color, width):
    (x0, y0), (x1, y1) = a, b
    n = int(max(abs(x1 - x0), abs(y1 - y0), 1))
    for t in np.linspace(0, 1, n + 1):
        x, y = int(round(x0 + (x1 - x0) * t)), int(round(y0 + (y1 - y0) * t))
        if not (0 <= x < img.shape[1] and 0 <= y < img.shape[0]):
            continue
        img[max(0, y - width):y + width + 1, max(0, x - width):x + width + 1] = color


def draw_placement(p, result):
    """PNG bytes of ``result`` (a :class:`~compiler.compile.CompileResult`) on ``p``."""
    ic = interconnect(p)
    h = 2 * MARGIN + p.rows * CELL
    w = 2 * MARGIN + p.cols * CELL
    img = np.full((h, w, 3), 255, dtype=np.uint8)
    used = {site for name, site in result.placement.items()
            if result.placement.kinds[name] in ("pcu", "pmu")}
    for uid, kind, (r, c) in p.units:
        x, y = _xy((r, c))
        base = np.array((70, 110, 220) if kind == "pcu" else (60, 170, 90), dtype=float)
        color = base if uid in used else 255 - (255 - base) * 0.25
        img[y + 6:y + CELL - 5, x + 6:x + CELL - 5] = color.astype(np.uint8)
    tracks = max(p.vector_tracks, p.scalar_tracks)
    for k, route in enumerate(result.routing.routes.values()):
        color = _PALETTE[k % len(_PALETTE)]
        width = 1 if route.network == "vector" else 0
        for hop in route.hops:
            x, y = _xy(hop.pos)
            side, track = hop.output[0], hop.output[1:]
            if side in SIDES and track.isdigit():
                off = (int(track) - (tracks - 1) / 2) * 3 + (2 if route.network == "scalar" else 0)
                di, dj = SIDES[side]
                a = (x + off * abs(di), y + off * abs(dj))
                b = (a[0] + dj * CELL, a[1] + di * CELL)
                _line(img, a, b, color, width)
            elif hop.output.startswith("u"):
                uid = int(hop.output[1:].split("_", 1)[0])
                r, c = divmod(uid, p.cols)
                cx, cy = _xy((r, c))
                _line(img, (x, y), (cx + CELL // 2, cy + CELL // 2), color, 0)
            else:
                _line(img, (x, y), (w - 2, y), color, 0)
    for pos in ic.switches:
        x, y = _xy(pos)
        img[y - 2:y + 3, x - 2:x + 3] = (90, 90, 90)
    return png_bytes(img)
