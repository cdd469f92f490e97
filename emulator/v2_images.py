"""Generated images for the emulator: real baseline JPEG files, deterministic per prompt.

GigaChat's image generation returns JPEG files (docs: text2image "Генерация изображения в формате
JPEG"; v2 recording: ``"mime": "image/jpeg"``). Without an imaging library, this encodes a
mosaic of 8x8 blocks of one colour each (DC coefficients only, standard DC Huffman table, an AC
table holding just end-of-block): a valid JFIF file any decoder reads, whose bytes depend on the
prompt, so a test can tell one generated image from another and compare bytes exactly.
"""

from __future__ import annotations

import hashlib
import struct

#: Words that make the deterministic model draw (v1 text2image and v2 image_generate).
IMAGE_TRIGGERS = ("draw", "image", "picture", "icon", "нарисуй", "изображ", "картин", "рисун")


def wants_image(text: str) -> bool:
    low = text.casefold()
    return any(word in low for word in IMAGE_TRIGGERS)


# The standard luminance DC Huffman table (ITU T.81, K.3): code lengths 2..9 for categories 0..11.
_DC_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_VALUES = tuple(range(12))
# An AC table with a single 1-bit code, for end-of-block (0x00): every AC coefficient is zero.
_AC_BITS = (1,) + (0,) * 15
_AC_VALUES = (0x00,)


def _huffman_codes(bits: tuple[int, ...], values: tuple[int, ...]) -> dict[int, tuple[int, int]]:
    codes: dict[int, tuple[int, int]] = {}
    code, k = 0, 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[values[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


_DC = _huffman_codes(_DC_BITS, _DC_VALUES)
_EOB = _huffman_codes(_AC_BITS, _AC_VALUES)[0]


class _Bits:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, value: int, length: int) -> None:
        for i in range(length - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0x00)  # byte stuffing
                self.acc, self.n = 0, 0

    def close(self) -> bytes:
        if self.n:
            self.put((1 << (8 - self.n)) - 1, 8 - self.n)  # pad with 1-bits
        return bytes(self.out)


def _dc(bits: _Bits, diff: int) -> None:
    category = abs(diff).bit_length()
    code, length = _DC[category]
    bits.put(code, length)
    if category:
        bits.put(diff if diff > 0 else diff + (1 << category) - 1, category)
    bits.put(*_EOB)


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def _ycbcr(r: int, g: int, b: int) -> tuple[int, int, int]:
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return tuple(max(0, min(255, round(v))) for v in (y, cb, cr))  # type: ignore[return-value]


def make_jpeg(prompt: str, blocks: int = 8, *, padding: int = 0) -> bytes:
    """A ``blocks*8`` pixels square JPEG whose colours derive from the prompt. ``padding`` adds a
    comment segment of that many bytes (to test sizes), still a valid JPEG."""
    seed = hashlib.sha256(prompt.encode("utf-8")).digest()
    size = blocks * 8
    bits = _Bits()
    previous = [0, 0, 0]
    for i in range(blocks * blocks):
        h = hashlib.sha256(seed + i.to_bytes(4, "big")).digest()
        for c, level in enumerate(_ycbcr(h[0], h[1], h[2])):
            dc = 8 * (level - 128)  # the DC coefficient of a flat block (quantisation step 1)
            _dc(bits, dc - previous[c])
            previous[c] = dc
    comment = b"GigaChat emulator image " + seed.hex().encode()
    out = bytearray(b"\xff\xd8")
    out += _segment(0xFFE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    out += _segment(0xFFFE, comment)
    while padding > 0:  # a comment segment holds at most 65533 bytes
        n = min(padding, 65533)
        out += _segment(0xFFFE, b"\x00" * n)
        padding -= n
    out += _segment(0xFFDB, b"\x00" + b"\x01" * 64)
    out += _segment(0xFFC0, struct.pack(">BHHB", 8, size, size, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00")
    out += _segment(0xFFC4, b"\x00" + bytes(_DC_BITS) + bytes(_DC_VALUES))
    out += _segment(0xFFC4, b"\x10" + bytes(_AC_BITS) + bytes(_AC_VALUES))
    out += _segment(0xFFDA, b"\x03\x01\x00\x02\x00\x03\x00\x00\x3f\x00")
    out += bits.close()
    out += b"\xff\xd9"
    return bytes(out)
