"""Embeddings the fake servers compute: hashed bags of words, so texts that share words are
near and texts that share none are orthogonal, and a test can tell a right match from a wrong one."""

from __future__ import annotations

import hashlib
import math
import re

DIMENSIONS = 64


def embed(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.md5(word.encode(), usedforsecurity=False).digest()
        vector[digest[0] % dimensions] += 1.0 if digest[1] % 2 else -1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]
