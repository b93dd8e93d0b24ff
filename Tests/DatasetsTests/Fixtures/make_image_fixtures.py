#!/usr/bin/env python3
"""Small PNG and JPEG files and the RGB pixels Pillow decodes them to (`Image.open(f).convert("RGB")`, what
torchvision's ImageFolder loader does), for the decoder tests (Tests/DatasetsTests/ImageDecodingTests.swift).

Run from this directory:  python3 make_image_fixtures.py   (writes images/* and images/expected.json)
Needs Pillow and numpy; the Swift tests read only the files.
"""
import json

import numpy as np
from PIL import Image

rng = np.random.default_rng(7)
rgb = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
# Smooth content as well, so the JPEG's chroma upsampling is exercised on something photo-like.
yy, xx = np.mgrid[0:16, 0:24]
smooth = np.stack([(xx * 10) % 256, (yy * 15) % 256, ((xx + yy) * 6) % 256], axis=-1).astype(np.uint8)

images = {
    "rgb.png": Image.fromarray(rgb),
    "gray.png": Image.fromarray(rgb[:, :, 0]),
    "rgba.png": Image.fromarray(np.dstack([rgb, rng.integers(0, 256, size=(5, 7), dtype=np.uint8)])),
    "gray-alpha.png": Image.fromarray(np.dstack([rgb[:, :, 1], rgb[:, :, 2]]), mode="LA"),
    "palette.png": Image.fromarray(rgb).quantize(colors=6),
    "smooth.jpg": Image.fromarray(smooth),
    "gray.jpg": Image.fromarray(smooth[:, :, 1]),
}
expected = {}
for name, image in images.items():
    path = "images/" + name
    if name.endswith(".jpg"):
        image.save(path, quality=90)
    else:
        image.save(path)
    decoded = np.asarray(Image.open(path).convert("RGB"))
    expected[name] = {"height": decoded.shape[0], "width": decoded.shape[1], "rgb": decoded.ravel().tolist()}

with open("images/expected.json", "w") as f:
    json.dump(expected, f)
    f.write("\n")
print("wrote", ", ".join(sorted(expected)))

# A 16-bit gray PNG, written chunk by chunk (Pillow's convert("RGB") clips 16-bit values, so the test
# expects round(v / 257) instead).
import struct
import zlib

values = np.array([[0, 257, 32768, 65535], [1000, 20000, 40000, 60000], [128, 255, 256, 65280]], dtype=">u2")
raw = b"".join(b"\0" + row.tobytes() for row in values)


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


with open("images/gray16.png", "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 3, 16, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
