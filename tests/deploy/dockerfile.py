"""Reading Dockerfiles and their .dockerignore files the way Docker does, for the tests."""

from __future__ import annotations

import re

from tests.deploy.conftest import ROOT


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    text = (ROOT / dockerfile).read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(m[1].upper(), m[2].strip()) for m in re.finditer(r"^\s*(\w+)\s+(.*)$", joined, re.M)]


def final_stage(dockerfile: str) -> list[tuple[str, str]]:
    steps = instructions(dockerfile)
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def ignored(dockerfile: str, source: str) -> bool:
    """Whether the Dockerfile's own .dockerignore drops ``source``.

    As Docker does: a pattern matches a path or any of its parents, and the last matching
    pattern wins.
    """
    parts = source.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for line in (ROOT / f"{dockerfile}.dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        regex = _pattern_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            result = not pattern.startswith("!")
    return result


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: ``*`` and ``?`` stay within a path segment, ``**`` spans any."""
    segments = []
    for segment in pattern.split("/"):
        if segment == "**":
            segments.append("(?:[^/]+/)*")
        else:
            segments.append(re.escape(segment).replace(r"\*", "[^/]*").replace(r"\?", "[^/]") + "/")
    return re.compile("".join(segments).removesuffix("/"))
