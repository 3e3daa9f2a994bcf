"""Act out a systemd service unit where systemd is not PID 1: its ExecStart, as its User, with
its environment, working directory and limits, inside the sandbox its hardening options ask for.

    python unit_sandbox.py /etc/systemd/system/NAME.service [-- COMMAND ...]     (as root)

The process becomes the service (one PID throughout: mounts, user switch, seccomp, exec) and
writes that PID to /run/NAME.pid first. With a COMMAND, that runs in the service's place, as
``systemd-run --property=...`` would run it: a probe of what the service may do. Every
[Service] option is either acted out or named in ``LIFECYCLE`` (what systemd does around the
process, not to it); any other option is an error, so an option added to the unit is
emulated before this test passes again.

- File system options are acted out with mounts in a private mount namespace, as systemd
  does: a read-only tree with writable ReadWritePaths, inaccessible homes, a private /tmp,
  /dev with the pseudo devices only, /proc hiding other users' processes, read-only /proc/sys
  and /sys.
- The user switch, no_new_privs and an empty capability bounding set go through setpriv.
- System call options become seccomp filters (seccomp_exec.py): the allow list is systemd's
  own group contents (``systemd-analyze syscall-filter``), the other rules systemd's or
  stricter ones. This machine's Python lives under /root (a server's is /usr/bin/python3), so
  ProtectHome leaves that one folder readable.
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LIFECYCLE = {"Type", "Restart", "RestartSec", "TimeoutStopSec", "RemoveIPC"}
"""How systemd starts, restarts and stops the service, or cleans up after it: nothing to act out."""
FAMILIES = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10}
ERRNOS = {"EPERM": 1, "EACCES": 13}
# What the Protect*/Restrict* options deny besides their mounts (systemd's lists, or more).
DENIED_BY = {"ProtectClock": ["@clock"], "ProtectHostname": ["sethostname", "setdomainname"],
             "ProtectKernelModules": ["@module"], "ProtectKernelLogs": ["syslog"],
             "RestrictRealtime": ["sched_setscheduler", "sched_setattr"]}


def parse(text: str) -> dict[str, list[str]]:
    """The [Service] section: option -> its values in order (ReadWritePaths= may repeat)."""
    options: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            options.setdefault(key.strip(), []).append(value.strip())
    return options


def environment_file(path: str) -> dict[str, str]:
    """KEY=value lines, as systemd reads an EnvironmentFile= (comments, blank lines, quotes)."""
    values = {}
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def expand(entries: list[str]) -> set[str]:
    """System call names of ``entries`` (names and @groups), as systemd resolves them."""
    names: set[str] = set()
    for entry in entries:
        if not entry.startswith("@"):
            names.add(entry)
            continue
        listed = subprocess.run(["systemd-analyze", "syscall-filter", entry], capture_output=True, text=True,
                                check=True).stdout.splitlines()[1:]
        names |= expand([item.strip() for item in listed if item.strip() and not item.strip().startswith("#")])
    return names


def seccomp_spec(options: dict[str, list[str]], used: set[str]) -> dict:
    allowed: set[str] = set()
    for value in options.get("SystemCallFilter", []):
        if value.startswith("~"):
            allowed -= expand(value[1:].split())
        else:
            allowed |= expand(value.split())
    for option, denied in DENIED_BY.items():
        if yes(options, option):
            allowed -= expand(denied)
    used |= {"SystemCallFilter", "SystemCallErrorNumber", "SystemCallArchitectures", *DENIED_BY}
    assert options.get("SystemCallArchitectures", ["native"]) == ["native"]  # libseccomp's default
    used |= {"RestrictAddressFamilies", "MemoryDenyWriteExecute", "RestrictNamespaces", "RestrictSUIDSGID",
             "LockPersonality"}
    families = [FAMILIES[name] for value in options.get("RestrictAddressFamilies", []) for name in value.split()]
    return {"allow": sorted(allowed), "errno": ERRNOS[options.get("SystemCallErrorNumber", ["EPERM"])[-1]],
            "families": families, "mdwe": yes(options, "MemoryDenyWriteExecute"),
            "namespaces": yes(options, "RestrictNamespaces"), "suid": yes(options, "RestrictSUIDSGID"),
            "personality": yes(options, "LockPersonality")}


def yes(options: dict[str, list[str]], key: str) -> bool:
    return options.get(key, ["no"])[-1] in ("yes", "true", "1", "on")


def mounts(options: dict[str, list[str]], used: set[str]) -> list[str]:
    """Shell lines building the service's file system view, in the order systemd's work needs."""
    used |= {"ProtectSystem", "ReadWritePaths", "PrivateTmp", "ProtectHome", "PrivateDevices", "PrivateMounts",
             "ProtectProc", "ProtectKernelTunables", "ProtectControlGroups"}
    assert options["ProtectSystem"] == ["strict"] and yes(options, "PrivateMounts")
    stage = "/run/.unit-sandbox"
    lines = [f"mkdir -p {stage} && mount -t tmpfs -o mode=755 tmpfs {stage}",
             f"mkdir -m 000 {stage}/inaccessible && install -m 000 /dev/null {stage}/inaccessible-file"]
    if yes(options, "PrivateDevices"):  # the pseudo devices only
        lines += [f"mkdir {stage}/dev {stage}/dev/shm && chmod 1777 {stage}/dev/shm"]
        lines += [f"touch {stage}/dev/{node} && mount --bind /dev/{node} {stage}/dev/{node}"
                  for node in ("null", "zero", "full", "random", "urandom", "tty")]
        lines += [f"mount --rbind {stage}/dev /dev"]
    lines += [f"mount --bind {shlex.quote(path)} {shlex.quote(path)}" for path in options.get("ReadWritePaths", [])]
    if yes(options, "PrivateTmp"):
        lines += ["mount -t tmpfs -o mode=1777 tmpfs /tmp", "mount -t tmpfs -o mode=1777 tmpfs /var/tmp"]
    if yes(options, "ProtectHome"):
        lines += homes_hidden(stage)
    if yes(options, "ProtectKernelModules"):
        lines += [f"[ ! -d {d} ] || mount --bind {stage}/inaccessible {d}" for d in ("/usr/lib/modules",)]
    proc = "hidepid=invisible" if options.get("ProtectProc") == ["invisible"] else "defaults"
    lines += [f"mount -t proc -o {proc} proc /proc"]
    if yes(options, "ProtectKernelTunables"):
        lines += ["mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys",
                  "mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /sys"]
    if yes(options, "ProtectKernelLogs"):
        lines += [f"mount --bind {stage}/inaccessible-file /proc/kmsg"]
    # ProtectSystem=strict: the whole tree read-only; the mounts above are their own.
    return [*lines, "mount -o remount,bind,ro /", f"mount -o remount,bind,ro {stage}"]


def homes_hidden(stage: str) -> list[str]:
    """ProtectHome=yes: homes empty and inaccessible; this machine's Python stays readable."""
    lines = []
    python = Path(sys.base_prefix)
    for home in ("/home", "/root", "/run/user"):
        if not Path(home).is_dir():
            continue
        if python.is_relative_to(home):  # kept aside before the home is covered, then put back
            lines += [f"mkdir {stage}/python && mount --bind {python} {stage}/python",
                      f"mount -t tmpfs -o mode=111 tmpfs {home} && mkdir -p {python}",
                      f"mount --bind {stage}/python {python} && mount -o remount,bind,ro {python}",
                      f"mount -o remount,ro {home}"]
        else:
            lines.append(f"mount -t tmpfs -o mode=000,ro tmpfs {home}")
    return lines


def script(unit: Path, instead: list[str]) -> str:
    options = parse(unit.read_text())
    used = {"User", "Group", "EnvironmentFile", "Environment", "WorkingDirectory", "ExecStart", "UMask",
            "LimitNOFILE", "NoNewPrivileges", "CapabilityBoundingSet", *LIFECYCLE}
    account = pwd.getpwnam(options["User"][-1])
    env = {"PATH": SERVICE_PATH, "USER": account.pw_name, "LOGNAME": account.pw_name, "HOME": account.pw_dir,
           "SHELL": account.pw_shell}
    for path in options.get("EnvironmentFile", []):
        env.update(environment_file(path))
    for value in options.get("Environment", []):
        env.update(item.split("=", 1) for item in shlex.split(value))
    command = instead or shlex.split(options["ExecStart"][-1])
    assert command[0].startswith("/"), "ExecStart must name an absolute path"
    spec = seccomp_spec(options, used)
    lines = mounts(options, used)
    unknown = set(options) - used
    if unknown:
        raise SystemExit(f"unit_sandbox cannot act out {', '.join(sorted(unknown))}: add it here")
    assert yes(options, "NoNewPrivileges") and options["CapabilityBoundingSet"] == [""]
    switch = ["setpriv", f"--reuid={account.pw_name}", f"--regid={options['Group'][-1]}", "--init-groups",
              "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all"]
    # The filter's source goes in by value: the unit's private /tmp and hidden homes may hide this checkout.
    seccomp = ["/usr/bin/python3", "-c", (HERE / "seccomp_exec.py").read_text(), json.dumps(spec), "--"]
    run = ["env", "-i", *(f"{key}={value}" for key, value in env.items()), *seccomp, *command]
    return "\n".join([
        ":" if instead else f"echo $$ > /run/{unit.stem}.pid",
        *lines,
        f"cd {shlex.quote(options['WorkingDirectory'][-1])}",
        f"umask {options['UMask'][-1]}",
        f"ulimit -n {options['LimitNOFILE'][-1]}",
        "exec " + shlex.join([*switch, *run]),
    ])


if __name__ == "__main__":
    shell = script(Path(sys.argv[1]), sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else [])
    os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "sh", "-ec", shell])
