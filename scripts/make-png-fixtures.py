#!/usr/bin/env python3
"""Writes the PNG fixtures of Engine.Tests/Imaging/Fixtures: reference PNGs made here with only struct and
zlib (every filter type, every colour type and bit depth the decoder accepts, split IDATs, tRNS), and, when
ImageMagick's convert is installed (scripts/setup-test-tools.sh), PNGs written by ImageMagick. Beside each
NAME.png is NAME.expected: a line "width height channels" then the 8-bit samples the decoder must produce,
row-major with channels interleaved. Files named bad-*.png must be refused (interlaced, 16-bit)."""

import os
import shutil
import struct
import subprocess
import sys
import zlib

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Engine.Tests", "Imaging", "Fixtures")
W, H = 13, 7


def sample(x, y, c):
    """The test picture: a different smooth-ish pattern per channel."""
    return [(x * 19 + y * 37) % 256, (x * 50 + y * 3) % 256, (x * x + y * 11) % 256, (255 - x * 9 - y * 13) % 256][c]


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filtered(rows, step):
    """Row y uses filter y mod 5, so each file exercises all five."""
    out, prior = bytearray(), bytes(len(rows[0]))
    for y, row in enumerate(rows):
        kind = y % 5
        out.append(kind)
        for i, value in enumerate(row):
            a = row[i - step] if i >= step else 0
            b = prior[i]
            c = prior[i - step] if i >= step else 0
            predicted = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
            out.append((value - predicted) & 255)
        prior = row
    return bytes(out)


def pack(values, depth):
    """Packs samples of `depth` bits, most significant first, padding the row to a byte."""
    if depth == 8:
        return bytes(values)
    out, bits, acc = bytearray(), 0, 0
    for v in values:
        acc, bits = (acc << depth) | v, bits + depth
        if bits == 8:
            out.append(acc)
            bits, acc = 0, 0
    if bits:
        out.append(acc << (8 - bits))
    return bytes(out)


def write_png(name, colour, depth, rows, expected, channels, extra=(), split=1):
    step = max(1, {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour] * depth // 8)
    data = zlib.compress(filtered(rows, step), 9)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, depth, colour, 0, 0, 0))
    for kind, payload in extra:
        png += chunk(kind, payload)
    size = (len(data) + split - 1) // split
    for i in range(0, len(data), size):
        png += chunk(b"IDAT", data[i:i + size])
    png += chunk(b"tEXt", b"Comment\x00made by make-png-fixtures.py") + chunk(b"IEND", b"")
    open(os.path.join(OUT, name + ".png"), "wb").write(png)
    write_expected(name, expected, channels)


def write_expected(name, expected, channels):
    with open(os.path.join(OUT, name + ".expected"), "wb") as f:
        f.write(f"{W} {H} {channels}\n".encode() + bytes(expected))


def reference():
    for colour, channels, label in [(0, 1, "grey"), (4, 2, "grey-alpha"), (2, 3, "rgb"), (6, 4, "rgba")]:
        rows = [bytes(sample(x, y, c) for x in range(W) for c in range(channels)) for y in range(H)]
        write_png(f"py-{label}", colour, 8, rows, b"".join(rows), channels, split=3)
    for depth in (1, 2, 4):
        top = (1 << depth) - 1
        levels = [[(x + 2 * y) % (top + 1) for x in range(W)] for y in range(H)]
        rows = [pack(row, depth) for row in levels]
        write_png(f"py-grey{depth}", 0, depth, rows, [v * 255 // top for row in levels for v in row], 1)
        palette = [(i * 40 % 256, 255 - i * 16, i * 7) for i in range(top + 1)]
        write_png(f"py-palette{depth}", 3, depth, rows, [v for row in levels for i in row for v in palette[i]], 3,
                  extra=[(b"PLTE", bytes(v for entry in palette for v in entry))])
    indices = [[(x * 3 + y * 5) % 20 for x in range(W)] for y in range(H)]
    palette = [(i * 12, 200 - i * 9, (i * 37) % 256) for i in range(20)]
    alpha = [255 - i * 20 for i in range(12)]  # shorter than the palette: the rest are opaque
    rows = [bytes(row) for row in indices]
    plte = (b"PLTE", bytes(v for entry in palette for v in entry))
    write_png("py-palette8", 3, 8, rows, [v for row in indices for i in row for v in palette[i]], 3, extra=[plte])
    write_png("py-palette8-trns", 3, 8, rows,
              [v for row in indices for i in row for v in palette[i] + ((alpha[i] if i < len(alpha) else 255),)], 4,
              extra=[plte, (b"tRNS", bytes(alpha))])
    grey = [bytes(sample(x, y, 0) for x in range(W)) for y in range(H)]
    key = grey[2][3]
    write_png("py-grey-trns", 0, 8, grey, [v for row in grey for g in row for v in (g, 0 if g == key else 255)], 2,
              extra=[(b"tRNS", struct.pack(">H", key))])


def imagemagick():
    convert = ["/usr/bin/convert", "-define", "png:exclude-chunks=date,time"]
    if not os.path.exists(convert[0]):
        print("ImageMagick not installed (scripts/setup-test-tools.sh): only the reference fixtures were written")
        return
    cases = [("gray", 1, "0", "grey"), ("graya", 2, "4", "grey-alpha"), ("rgb", 3, "2", "rgb"), ("rgba", 4, "6", "rgba")]
    for raw_format, channels, colour, label in cases:
        pixels = bytes(sample(x, y, c) for y in range(H) for x in range(W) for c in range(channels))
        source = os.path.join(OUT, "source.raw")
        open(source, "wb").write(pixels)
        for quality in ("90", "95"):  # zlib level 9 with no filter, and adaptive filtering
            name = f"im-{label}-q{quality}"
            subprocess.run([*convert, "-size", f"{W}x{H}", "-depth", "8", f"{raw_format}:{source}", "-quality", quality,
                            "-define", f"png:color-type={colour}", "-define", "png:bit-depth=8",
                            os.path.join(OUT, name + ".png")], check=True)
            write_expected(name, pixels, channels)
        os.remove(source)
    # A few colours: ImageMagick writes a palette image (PNG8), with tRNS when some are translucent.
    few = bytes(v for y in range(H) for x in range(W) for v in [(40, 80, 120, 255), (250, 10, 10, 128), (0, 0, 0, 0)][(x + y) % 3])
    source = os.path.join(OUT, "source.raw")
    open(source, "wb").write(few)
    subprocess.run([*convert, "-size", f"{W}x{H}", "-depth", "8", f"rgba:{source}", os.path.join(OUT, "im-palette-alpha.png")], check=True)
    write_expected("im-palette-alpha", few, 4)
    subprocess.run([*convert, "-size", f"{W}x{H}", "-depth", "8", f"rgba:{source}", "-interlace", "PNG",
                    "-define", "png:color-type=6", os.path.join(OUT, "bad-interlaced.png")], check=True)
    subprocess.run([*convert, "-size", f"{W}x{H}", "-depth", "8", f"rgba:{source}", "-depth", "16",
                    "-define", "png:color-type=6", "-define", "png:bit-depth=16", os.path.join(OUT, "bad-16bit.png")], check=True)
    os.remove(source)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    reference()
    imagemagick()
