"""Finding valgrind, installing it where missing, and the command line of a recording.

``python -m rmapsim.record.valgrind --install`` installs valgrind with the system package manager
when it is missing and we are root (what a CI set-up runs); otherwise it says in one line how to.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from rmapsim.errors import ConfigError

HOWTO = ("valgrind is needed to record a program: install it with your package manager "
         "(e.g. `sudo apt-get install valgrind`, `sudo dnf install valgrind`), or as root run "
         "`rmapsim trace record --install-valgrind`")


def find_valgrind() -> str | None:
    return shutil.which("valgrind")


def install_valgrind(quiet: bool = False) -> str:
    """The path of valgrind, installing it first (apt-get, dnf, yum, apk, zypper or pacman) when
    it is missing and we are root; a ConfigError saying how to install it otherwise."""
    found = find_valgrind()
    if found:
        return found
    if os.geteuid() != 0:
        raise ConfigError(HOWTO)
    out = subprocess.DEVNULL if quiet else None
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    managers = [
        ("apt-get", [["apt-get", "install", "-y", "-q", "valgrind"],
                     ["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "valgrind"]]),
        ("dnf", [["dnf", "install", "-y", "valgrind"]]),
        ("yum", [["yum", "install", "-y", "valgrind"]]),
        ("apk", [["apk", "add", "valgrind"]]),
        ("zypper", [["zypper", "--non-interactive", "install", "valgrind"]]),
        ("pacman", [["pacman", "-S", "--noconfirm", "valgrind"]]),
    ]
    for tool, steps in managers:
        if not shutil.which(tool):
            continue
        for step in steps:
            subprocess.run(step, env=env, stdout=out, stderr=out, check=False)
            if find_valgrind():
                return find_valgrind()
        break
    raise ConfigError("could not install valgrind with the system package manager; " + HOWTO)


def require_valgrind(install: bool = False) -> str:
    path = install_valgrind() if install else find_valgrind()
    if not path:
        raise ConfigError(HOWTO)
    return path


def valgrind_argv(valgrind: str, logdir: str, command: list[str]) -> list[str]:
    """The command line that records ``command``: lackey's references, the system calls, every
    child process, one log per process image (``%p`` pid, ``%n`` a sequence number: a pid has
    one log before its first exec and one per exec); ``-v -v`` for where the loader put the
    executable and ld.so."""
    return [valgrind, "-v", "-v", "--tool=lackey", "--trace-mem=yes", "--trace-syscalls=yes",
            "--trace-children=yes", "--child-silent-after-fork=no", "--vgdb=no",
            f"--log-file={os.path.join(logdir, 'log.%p.%n')}", *command]


def probe_layout(valgrind: str, save: str) -> None:
    """Run ``valgrind -d`` on ``true`` alone and save the aspacem lines of its debug log (on
    stderr) to ``save``: the client stack's place and the trampoline page of the tool's image,
    the same in every process valgrind starts here (same build, tool and stack rlimit). The
    recording itself runs without ``-d``: processes starting together would interleave their
    debug lines on the shared stderr, mixed with the program's own messages."""
    from rmapsim.record.logs import Layouts
    true = shutil.which("true") or "/bin/true"
    try:
        r = subprocess.run([valgrind, "-d", "--tool=lackey", "--trace-mem=no", "--vgdb=no",
                            "--log-file=/dev/null", true], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return
    lay = Layouts()
    for raw in r.stderr.splitlines():
        lay.feed(raw.decode("utf-8", "replace"))
    lay.save(save)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv not in (["--install"], ["--check"]):
        print("usage: python -m rmapsim.record.valgrind --install | --check", file=sys.stderr)
        return 2
    try:
        path = install_valgrind() if argv == ["--install"] else require_valgrind()
    except ConfigError as e:
        print(f"rmapsim: error: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
