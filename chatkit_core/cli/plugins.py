"""``chatkit plugins``: what is installed and what each registers; ``chatkit plugins new``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from chatkit_core.platform.plugins import describe


def cmd_plugins(args: argparse.Namespace) -> int:
    """Exits 1 when a plugin has a problem (it failed to load, or registers something unusable)."""
    rows = describe()
    broken = any(row["problems"] or "error" in row for row in rows)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 1 if broken else 0
    for row in rows:
        kind = "built-in" if row["builtin"] else f"{row['distribution']} {row['version']}"
        registers = "; ".join(f"{k}: {', '.join(v)}" for k, v in row["registers"].items()) or "nothing"
        if "error" in row:
            registers = f"FAILED TO LOAD: {row['error']}"
        print(f"{row['name']:<34} {kind:<24} {registers}")
    from chatkit_core.platform.plugins import problems

    found = problems()
    for problem in found:
        print(f"problem: {problem}")
    return 1 if broken or found else 0


def cmd_plugins_new(args: argparse.Namespace) -> int:
    from chatkit_core import skeleton

    target = skeleton.write(args.name, Path(args.dir), args.kind)
    print(f"wrote {target}, a {args.kind} plugin: pip install -e '{target}[test]', then run pytest in it")
    return 0
