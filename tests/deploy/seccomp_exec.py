"""Exec a command under the seccomp filters a systemd unit asks for, as systemd applies them:
after the switch to the service's user (with no_new_privs), right before exec.

    python3 seccomp_exec.py SPEC -- COMMAND [ARG...]

SPEC is JSON: ``allow`` (system call names: SystemCallFilter=, groups expanded), ``errno``
(SystemCallErrorNumber=), ``families`` (RestrictAddressFamilies=, numbers), ``mdwe``
(MemoryDenyWriteExecute=), ``namespaces`` (RestrictNamespaces=), ``suid`` (RestrictSUIDSGID=),
``personality`` (LockPersonality=). Each is its own filter, as systemd installs them; the kernel
applies the strictest answer. It runs on Debian's python3, which has libseccomp's bindings
(python3-seccomp).
"""

from __future__ import annotations

import errno
import json
import os
import sys

import seccomp

PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000
S_ISUID, S_ISGID = 0o4000, 0o2000
CLONE_NEW = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080)
"""CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME"""


def rules(default: int, entries: list[tuple[int, str, list[seccomp.Arg]]]) -> None:
    syscalls = seccomp.SyscallFilter(defaction=default)
    for action, name, args in entries:
        try:
            syscalls.add_rule(action, name, *args)
        except RuntimeError:  # not a system call of this architecture: systemd skips it too
            continue
    syscalls.load()


def main(spec: dict, command: list[str]) -> None:
    if spec.get("families"):
        refused = seccomp.ERRNO(errno.EAFNOSUPPORT)
        rules(seccomp.ALLOW, [(refused, "socket", [seccomp.Arg(0, seccomp.EQ, family)])
                              for family in range(64) if family not in spec["families"]]
              + [(refused, "socket", [seccomp.Arg(0, seccomp.GE, 64)])])
    eperm = seccomp.ERRNO(errno.EPERM)
    if spec.get("mdwe"):  # systemd's own rules for MemoryDenyWriteExecute=
        both = PROT_WRITE | PROT_EXEC
        rules(seccomp.ALLOW, [(eperm, "mmap", [seccomp.Arg(2, seccomp.MASKED_EQ, both, both)]),
                              (eperm, "mprotect", [seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC, PROT_EXEC)]),
                              (eperm, "pkey_mprotect", [seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC, PROT_EXEC)]),
                              (eperm, "shmat", [seccomp.Arg(2, seccomp.MASKED_EQ, SHM_EXEC, SHM_EXEC)])])
    restricted = []
    if spec.get("namespaces"):
        # clone3's flags sit in memory a filter cannot read: systemd answers ENOSYS, and glibc
        # falls back to clone, whose flags it can.
        restricted += [(eperm, "unshare", []), (eperm, "setns", []), (seccomp.ERRNO(errno.ENOSYS), "clone3", [])]
        restricted += [(eperm, "clone", [seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag)]) for flag in CLONE_NEW]
    if spec.get("suid"):
        for bit in (S_ISUID, S_ISGID):
            restricted += [(eperm, "chmod", [seccomp.Arg(1, seccomp.MASKED_EQ, bit, bit)]),
                           (eperm, "fchmod", [seccomp.Arg(1, seccomp.MASKED_EQ, bit, bit)]),
                           (eperm, "fchmodat", [seccomp.Arg(2, seccomp.MASKED_EQ, bit, bit)])]
    if spec.get("personality"):  # only the query (0xffffffff) is left: stricter than systemd
        restricted.append((eperm, "personality", [seccomp.Arg(0, seccomp.NE, 0xFFFFFFFF)]))
    if restricted:
        rules(seccomp.ALLOW, restricted)
    if spec.get("allow"):  # last: it denies the seccomp() call that loads a filter
        rules(seccomp.ERRNO(spec["errno"]), [(seccomp.ALLOW, name, []) for name in spec["allow"]])
    os.execvp(command[0], command)


if __name__ == "__main__":
    separator = sys.argv.index("--")
    main(json.loads(sys.argv[1]), sys.argv[separator + 1:])
