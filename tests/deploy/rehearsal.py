"""Rehearse a Dockerfile without a Docker engine.

Each stage's filesystem is an overlay on this machine's root filesystem, entered with chroot
inside private mount (and, to run, network) namespaces. COPY, RUN, ENV, WORKDIR, USER, CMD
and HEALTHCHECK then act on the image's own paths (/opt/chatkit, /etc/chatkit, ...) while
the host stays untouched: every write lands in the stage's upper directory. Every base image
is this machine: its Python 3.11 stands in for python:3.11-slim, Debian's nginx for
nginx-unprivileged, its coreutils for busybox.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy.conftest import ROOT
from tests.deploy.dockerfile import instructions

BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Stage:
    name: str
    env: dict[str, str] = field(default_factory=lambda: {"PATH": BASE_PATH})
    workdir: str = "/"
    user: str = "0:0"
    copies: list[tuple[str | None, list[str], str]] = field(default_factory=list)
    """(stage copied from or None for the build context, sources, destination)"""
    runs: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)


def parse(dockerfile: str) -> list[Stage]:
    """The stages of ``dockerfile``; an instruction this rehearsal cannot act out is an error."""
    stages: list[Stage] = []
    for op, args in instructions(dockerfile):
        stage = stages[-1] if stages else None
        if op == "ARG" or op == "EXPOSE":
            continue
        if op == "FROM":
            words = args.split()
            stages.append(Stage(name=words[2] if len(words) == 3 else str(len(stages))))
        elif stage is None:
            raise ValueError(f"{op} before FROM")
        elif op == "ENV":
            for item in shlex.split(args):
                name, _, value = item.partition("=")
                stage.env[name] = value.replace("$PATH", stage.env["PATH"])
        elif op == "WORKDIR":
            stage.workdir = args
        elif op == "USER":
            stage.user = args
        elif op == "COPY":
            words = args.split()
            source_stage = next((w.split("=", 1)[1] for w in words if w.startswith("--from=")), None)
            paths = [w for w in words if not w.startswith("--")]
            stage.copies.append((source_stage, paths[:-1], paths[-1]))
        elif op == "RUN":
            stage.runs.append(args)
        elif op == "CMD":
            stage.cmd = json.loads(args)
        elif op == "HEALTHCHECK":
            stage.healthcheck = json.loads(args[args.index("CMD") + 3 :])
        else:
            raise ValueError(f"the rehearsal cannot act out {op}")
    return stages


def inside(upper: Path, path: str, workdir: str) -> Path:
    """Where image path ``path`` (relative ones from ``workdir``) lands in a stage's upper dir."""
    absolute = path if path.startswith("/") else f"{workdir.rstrip('/')}/{path}"
    return upper / absolute.lstrip("/")


def lay_copies(stage: Stage, upper: Path, uppers: dict[str, Path]) -> None:
    for source_stage, sources, destination in stage.copies:
        for source in sources:
            origin = inside(uppers[source_stage], source, "/") if source_stage else ROOT / source
            target = inside(upper, destination, stage.workdir)
            if destination.endswith("/") and origin.is_file():
                target = target / origin.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_dir():
                shutil.copytree(origin, target, symlinks=True, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            else:
                shutil.copy2(origin, target)


def mount_root(work: Path, upper: Path) -> tuple[str, str]:
    """Shell lines mounting an overlay root with ``upper`` on top, with /dev and /proc."""
    mount_dir = Path(tempfile.mkdtemp(prefix=f"{upper.name}-", dir=work))
    merged, scratch = mount_dir / "merged", mount_dir / "work"
    merged.mkdir()
    scratch.mkdir()
    return "\n".join([
        f"mount -t overlay overlay -o lowerdir=/,upperdir={upper},workdir={scratch} {merged}",
        f"mount --rbind /dev {merged}/dev",
        f"mount -t proc proc {merged}/proc",
    ]) + "\n", str(merged)


def in_stage(merged: str, stage: Stage, command: str, user: str = "0:0", extra_path: str = "") -> str:
    """A shell line running ``command`` in the stage: its env, working directory and user."""
    uid, _, gid = user.partition(":")
    env = {**stage.env, "HOME": "/root" if uid == "0" else "/nonexistent"}
    if extra_path:
        env["PATH"] = f"{extra_path}:{env['PATH']}"
    assignments = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    script = f"cd {shlex.quote(stage.workdir)} && {command}"
    switch = f"setpriv --reuid={uid} --regid={gid or uid} --clear-groups " if uid != "0" else ""
    return f"chroot {merged} {switch}env -i {assignments} /bin/sh -c {shlex.quote(script)}"


def build_stage(stage: Stage, work: Path, uppers: dict[str, Path], python_bin: str) -> Path:
    """Lay the stage's COPYs and run its RUNs (with network); returns the stage's upper dir."""
    upper = work / f"stage-{stage.name}"
    upper.mkdir()
    inside(upper, stage.workdir, "/").mkdir(parents=True, exist_ok=True)  # as WORKDIR does
    lay_copies(stage, upper, uppers)
    uppers[stage.name] = upper
    if stage.runs:
        mounts, merged = mount_root(work, upper)
        runs = "\n".join(in_stage(merged, stage, run, extra_path=python_bin) for run in stage.runs)
        result = subprocess.run(["unshare", "--mount", "sh", "-ec", mounts + runs],
                                capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            output = f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            raise AssertionError(f"stage {stage.name} failed to build:\n{output}")
    return upper


def run_image(stage: Stage, work: Path, probe: str, timeout: float = 30.0, cmd: list[str] | None = None,
              beside: str = "") -> dict[str, str]:
    """Start the stage's CMD (or ``cmd``, the base image's) as its USER on a read-only root
    with a tmpfs /tmp, in a network namespace of its own; poll its HEALTHCHECK as Docker
    would, then run ``probe`` (Python) beside it. ``beside`` is a shell command started
    first in the same network namespace, outside the image, as a neighbouring container
    (it should ``exec`` its server so that stopping it stops the server).
    Returns healthy, uid, the probe's output and the image's log."""
    upper = work / f"stage-{stage.name}"
    mounts, merged = mount_root(work, upper)
    checks = int(timeout / 0.5)
    run = " ".join(["exec", *map(shlex.quote, cmd or stage.cmd)])
    health = " ".join(map(shlex.quote, stage.healthcheck))
    log = work / "image.log"
    log.touch()
    log.chmod(0o666)  # the image's user may reopen /dev/stdout, as in a container
    script = mounts + "\n".join([
        # The host's Python lives under /root; python:3.11-slim's lives in /usr/local.
        f"chroot {merged} chmod o+x /root",
        f"mount -o remount,ro {merged}",
        f"mount -t tmpfs -o size=64m,mode=1777 tmpfs {merged}/tmp",
        "ip link set lo up",
        "pids=''",
        "trap 'kill $pids 2> /dev/null; wait' EXIT",
        f"({beside}) > {work}/beside.log 2>&1 &" if beside else ":",
        "pids=$!" if beside else ":",
        f"{in_stage(merged, stage, run, stage.user)} >> {work}/image.log 2>&1 &",
        "server=$!",
        "pids=\"$pids $server\"",
        "healthy=no",
        f"for i in $(seq {checks}); do",
        f"  if {in_stage(merged, stage, health, stage.user)} > /dev/null 2>&1; then healthy=yes; break; fi",
        "  sleep 0.5",
        "done",
        f"echo healthy=$healthy > {work}/result",
        f"echo uid=$(awk '/^Uid:/ {{print $2}}' /proc/$server/status) >> {work}/result",
        f"{in_stage(merged, stage, 'exec python3 -c ' + shlex.quote(probe), stage.user)} > {work}/probe 2>&1 || true",
    ])
    subprocess.run(["unshare", "--mount", "--net", "sh", "-ec", script], check=True, timeout=timeout + 60)
    result = dict(line.split("=", 1) for line in (work / "result").read_text().split())
    result.update(probe=(work / "probe").read_text(), log=(work / "image.log").read_text())
    return result


def rehearsable() -> str | None:
    """Why this machine cannot rehearse an image, or None when it can."""
    for tool in ("unshare", "chroot", "setpriv", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = ("d=$(mktemp -d); trap 'umount $d/m; rm -rf $d' EXIT; mkdir $d/u $d/w $d/m;"
             " mount -t overlay o -o lowerdir=/,upperdir=$d/u,workdir=$d/w $d/m")
    result = subprocess.run(["unshare", "--mount", "--net", "sh", "-ec", probe], capture_output=True, text=True)
    if result.returncode != 0:
        return f"no overlay mounts in a private namespace here: {result.stderr.strip()}"
    return None
