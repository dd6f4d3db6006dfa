"""A small seeded mutation fuzzer: valid seeds, mutated every way a byte stream can break.

Each generated input is one of: a seed with bit flips, bytes inserted, deleted, duplicated or
truncated, two seeds spliced, interesting values (0x00, 0xff, 0x80, huge lengths) written in, or
plain random bytes. Seeded, so every run feeds the same inputs and a crash is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

INTERESTING = (
    b"\x00",
    b"\xff",
    b"\x7f",
    b"\x80",
    b"\xc1",
    b"\xdb\xff\xff\xff\xff",
    b"\xdf\xff\xff\xff\xff",
    b"=",
    b"\n",
    b'"',
    b"#",
    b"[",
    b"]",
    b"<",
    b"&",
    b"|1|",
    b"@",
    b"*",
    b"\r\n",
    b"\xe2\x80\xae",
)


def _mutate(data: bytes, seeds: Sequence[bytes], rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(8)
        at = rng.randrange(len(buf) + 1)
        if choice == 0 and buf:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif choice == 1:
            buf[at:at] = rng.randbytes(rng.randint(1, 16))
        elif choice == 2 and buf:
            del buf[at : at + rng.randint(1, 16)]
        elif choice == 3:
            buf = buf[: rng.randrange(len(buf) + 1)]
        elif choice == 4:
            other = rng.choice(seeds)
            buf = buf[:at] + other[rng.randrange(len(other) + 1) :]
        elif choice == 5:
            buf[at:at] = rng.choice(INTERESTING)
        elif choice == 6 and buf:
            end = min(len(buf), at + rng.randint(1, 32))
            buf[at:at] = buf[at:end] * rng.randint(1, 8)
        elif buf:
            i = rng.randrange(len(buf))
            buf[i] = rng.randrange(256)
    return bytes(buf)


def inputs(seeds: Sequence[bytes], count: int, seed: int = 1) -> Iterator[bytes]:
    """`count` inputs derived from `seeds` (one in ten purely random)."""
    rng = random.Random(seed)
    for i in range(count):
        if i % 10 == 9:
            yield rng.randbytes(rng.randint(0, 600))
        else:
            yield _mutate(rng.choice(seeds), seeds, rng)
