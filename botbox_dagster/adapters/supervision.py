"""Processes that live and die together, and one copy per ``BOTBOX_HOME``.

``botbox serve`` / ``botbox demo`` (the *supervisor*) start ``dagster dev`` and the dashboard.
``dagster dev`` starts the webserver and the daemon; they start code servers, and a code server
starts one run worker process per run (multiprocessing, ``spawn``). None of Dagster's processes
calls ``setsid``, so they all stay in the process group of ``dagster dev``; but none of them
dies with its parent either (the shutdown pipe ``dagster dev`` gives its children ends their
watch on EOF without stopping them). Left alone, a supervisor killed by SIGKILL, a closed
terminal or the OOM killer leaves the whole fleet trading. Three layers stop that:

1. **Parent-death signal.** Every child is started through a tiny exec wrapper
   (``python -m botbox_dagster.adapters.supervision exec``) that sets Linux's
   ``PR_SET_PDEATHSIG`` to SIGTERM and then ``exec``s the real command, so the kernel sends
   SIGTERM the moment the supervisor dies (it survives ``exec``; Dagster maps SIGTERM to its
   Ctrl-C shutdown). It is not inherited by grandchildren, hence:
2. **Watchdog.** The supervisor starts one watchdog process in a session of its own (out of
   reach of the terminal's signals and of a kill of the supervisor's process group) and keeps
   the write end of a pipe whose read end only the watchdog holds. Each child is started in a
   new session (its own process group) and its group is written down the pipe. The pipe reads
   EOF when the supervisor is gone, however it ended (or when it closes the pipe after a clean
   stop). The watchdog then sends SIGTERM to every watched group and to every process whose
   environment (``/proc/PID/environ``) carries this supervisor's token
   (``BOTBOX_SUPERVISOR=<token>``, set on each child and inherited by every descendant, even one
   that left the group), waits a grace period, SIGKILLs whatever is left and exits when
   nothing is.
3. **One copy per home.** :func:`acquire_home_lock` takes an ``fcntl.flock`` on
   ``$BOTBOX_HOME/<role>.lock`` for the process's life (the kernel drops it however the process
   ends). The supervisor hands its lock to the watchdog too, so a new ``botbox serve`` on the
   same home is refused until the old one's processes are all gone. The dashboard has a lock
   of its own, so the dashboard ``botbox demo`` starts is not refused by its parent's lock.

4. **Restarts.** When ``dagster dev`` (or a part of it) dies while the supervisor is not
   stopping, the supervisor (``botbox_dagster/demo/run.py``) stops what is left of that stack
   with :meth:`Supervisor.stop_group` and starts a new one after a delay from
   :class:`RestartBackoff`; the lock and the watchdog stay the same across restarts (the
   watchdog is told to watch each new group and to forget the old one). Ctrl-C or SIGTERM
   never leads to a restart.

A clean stop (Ctrl-C or SIGTERM to the supervisor) is unchanged: SIGINT to ``dagster dev``,
up to 30 s for it to stop, then SIGKILL; then the supervisor closes the pipe and waits for the
watchdog to sweep what ``dagster dev`` left (its code servers, a run worker still going). See
the README, "Quickstart", for the operator's view.

Limits: the parent-death signal follows the *thread* that started the child (the supervisor
starts children from its main thread). A watchdog that is itself SIGKILLed leaves only layer 1;
the supervisor notices and stops the stack cleanly, but if both die at once, grandchildren can
survive. The environment sweep needs ``/proc`` (Linux); elsewhere the watched process groups
get SIGTERM and, after the grace period, SIGKILL.

This module uses only the standard library: the wrapper and the watchdog import nothing else.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self

TOKEN_ENV = "BOTBOX_SUPERVISOR"
# How long the watchdog lets processes stop after SIGTERM before it sends SIGKILL.
GRACE_SECONDS = 20.0
# How long the SIGKILL sweep goes on at most (a process in uninterruptible sleep can take a while).
KILL_SECONDS = 30.0
_PR_SET_PDEATHSIG = 1


# --- one copy per BOTBOX_HOME ------------------------------------------------------------------


class HomeInUseError(Exception):
    """Another process holds this role's lock on the home."""

    def __init__(self, home: Path, lock_path: Path, pid: int | None, holder: str) -> None:
        self.home, self.lock_path, self.pid, self.holder = home, lock_path, pid, holder
        who = f"PID {pid}" if pid is not None else "another process"
        super().__init__(
            f"BOTBOX_HOME {home} is already in use: {who} ({holder or 'unknown'}) holds "
            f"{lock_path}. Stop it first, or set BOTBOX_HOME to another directory."
        )


class _ClosedOnExit:
    """``with x:`` closes ``x`` at the end of the block."""

    def close(self) -> object:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()


class HomeLock(_ClosedOnExit):
    """An exclusive ``flock`` on ``$BOTBOX_HOME/<role>.lock``, held until :meth:`close` (or
    the end of the process, and of every process the descriptor is handed to)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd = path, fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _write_holder(fd: int, pid: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{pid} {text}\n".encode(), 0)


def _read_holder(path: Path) -> tuple[int | None, str]:
    # The holder writes its line just after taking the lock: give it a moment.
    for _ in range(20):
        with contextlib.suppress(OSError):
            first, _, rest = path.read_text().strip().partition(" ")
            if first.isdigit():
                return int(first), rest
        time.sleep(0.05)
    return None, ""


def acquire_home_lock(home: Path, role: str, holder: str) -> HomeLock:
    """Take ``role``'s lock on ``home`` or raise :class:`HomeInUseError` naming its holder.

    ``holder`` describes this process in the refusal another copy prints (``botbox serve``).
    """
    home.mkdir(parents=True, exist_ok=True)
    path = home / f"{role}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        pid, text = _read_holder(path)
        raise HomeInUseError(home, path, pid, text) from None
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _write_holder(fd, os.getpid(), f"{holder}, since {since}")
    return HomeLock(path, fd)


# --- children that die with their parent -------------------------------------------------------


def _set_parent_death_signal(sig: int) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies; False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)  # the C library the interpreter runs on
    return int(libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0


def wrapped(cmd: Sequence[str], parent: int | None = None) -> list[str]:
    """``cmd`` behind the exec wrapper: it dies (SIGTERM) when process ``parent`` (default: this
    one, the process that will start it) dies."""
    return [
        sys.executable,
        "-m",
        __name__,
        "exec",
        "--parent",
        str(os.getpid() if parent is None else parent),
        "--",
        *cmd,
    ]


def popen_dying_with_parent(cmd: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen`` of ``cmd`` in a new session, ended by SIGTERM when this process dies.

    The wrapper ``exec``s ``cmd``, so the returned process is ``cmd`` itself (same PID)."""
    kwargs.setdefault("start_new_session", True)
    return subprocess.Popen(wrapped(cmd), **kwargs)


class Supervisor(_ClosedOnExit):
    """What ``botbox serve`` uses to start its children: each dies with it, with all it starts.

    Use as a context manager; :meth:`close` (on exit) hands over to the watchdog, which stops
    whatever the children left and exits; ``close`` waits for it.
    """

    def __init__(self, lock: HomeLock | None = None, grace_seconds: float = GRACE_SECONDS) -> None:
        self.token = f"{os.getpid()}-{secrets.token_hex(8)}"
        self.grace_seconds = grace_seconds
        read_fd, self._pipe = os.pipe()  # both ends non-inheritable: only pass_fds hands one on
        lock_fd = lock.fd if lock is not None and lock.fd >= 0 else -1
        cmd = [
            sys.executable,
            "-m",
            __name__,
            "watch",
            "--pipe-fd",
            str(read_fd),
            "--supervisor",
            str(os.getpid()),
            "--token",
            self.token,
            "--grace",
            str(grace_seconds),
            "--lock-fd",
            str(lock_fd),
        ]
        try:
            self.watchdog = subprocess.Popen(
                cmd,
                pass_fds=[read_fd] if lock_fd < 0 else [read_fd, lock_fd],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            os.close(read_fd)

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        return {**env, TOKEN_ENV: self.token}

    def popen(
        self, cmd: Sequence[str], env: Mapping[str, str], **kwargs: Any
    ) -> subprocess.Popen[bytes]:
        """Start ``cmd`` in a session of its own, ended with this supervisor however it ends."""
        proc = popen_dying_with_parent(cmd, env=self.environment(env), **kwargs)
        self.watch_group(proc.pid)
        return proc

    def watch_group(self, pgid: int) -> None:
        with contextlib.suppress(OSError):
            os.write(self._pipe, f"group {pgid}\n".encode())

    def stop_group(self, pgid: int, grace_seconds: float | None = None) -> tuple[int, int]:
        """Stop what is left of the process group ``pgid`` (one of :meth:`popen`'s, whose
        leader has exited or been told to stop) as the watchdog would, and stop watching it;
        return (how many got SIGTERM, how many needed SIGKILL). Used before a restart."""
        grace = self.grace_seconds if grace_seconds is None else grace_seconds
        stopped = stop_processes([pgid], None, grace)
        with contextlib.suppress(OSError):
            os.write(self._pipe, f"forget {pgid}\n".encode())
        return stopped

    def watchdog_alive(self) -> bool:
        return self.watchdog.poll() is None

    def close(self, timeout: float | None = None) -> int | None:
        """Close the pipe (the watchdog sweeps and exits); wait for it. Its exit code."""
        if self._pipe >= 0:
            os.close(self._pipe)
            self._pipe = -1
        wait = self.grace_seconds + KILL_SECONDS + 10 if timeout is None else timeout
        try:
            return self.watchdog.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return None


class RestartBackoff:
    """Delays before restarting a stack that died: ``first``, then doubled each time up to
    ``cap``; back to ``first`` once a stack has run healthily for ``reset_after`` seconds."""

    def __init__(self, first: float = 1.0, cap: float = 60.0, reset_after: float = 300.0) -> None:
        self.first, self.cap, self.reset_after = first, cap, reset_after
        self.restarts = 0  # how many times a stack was restarted, in all
        self._delay = first

    def next_delay(self, healthy_for: float) -> float:
        """The delay before the next start, given how long the stack that died ran healthily."""
        if healthy_for >= self.reset_after:
            self._delay = self.first
        delay, self._delay = self._delay, min(self._delay * 2, self.cap)
        self.restarts += 1
        return delay


# --- the watchdog ------------------------------------------------------------------------------


def _process_group(pid: int) -> int | None:
    """The process group of ``pid``, None when it is gone or a zombie (dead, not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    return None if fields[0] in (b"Z", b"X") else int(fields[2])


def _environ_has(pid: int, entry: bytes) -> bool:
    try:
        return entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _describe(pid: int) -> str:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").strip()
    except OSError:
        return str(pid)
    return f"{pid} ({cmdline.decode(errors='replace')[:80]})"


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def find_processes(
    groups: Iterable[int], token: str | None, exclude: Iterable[int] = ()
) -> set[int]:
    """Live processes in one of ``groups`` or whose environment carries ``token`` (None: the
    groups only)."""
    wanted, skip = set(groups), {os.getpid(), *exclude}
    entry = None if token is None else f"{TOKEN_ENV}={token}".encode()
    found = set()
    for pid in _pids():
        if pid in skip:
            continue
        group = _process_group(pid)
        if group is not None and (
            group in wanted or (entry is not None and _environ_has(pid, entry))
        ):
            found.add(pid)
    return found


def _signal_all(pids: Iterable[int], groups: Iterable[int], sig: int) -> None:
    for group in groups:
        with contextlib.suppress(OSError):
            os.killpg(group, sig)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def stop_processes(
    groups: Iterable[int],
    token: str | None,
    grace_seconds: float,
    exclude: Iterable[int] = (),
    kill_seconds: float = KILL_SECONDS,
) -> tuple[int, int]:
    """SIGTERM everything :func:`find_processes` finds (again as new ones appear), SIGKILL what
    is left after ``grace_seconds``; return (how many got SIGTERM, how many needed SIGKILL)."""
    groups, exclude = list(groups), list(exclude)
    termed: set[int] = set()
    deadline = time.monotonic() + grace_seconds
    while live := find_processes(groups, token, exclude):
        if time.monotonic() >= deadline:
            break
        new = live - termed
        if new:
            _signal_all(new, groups if not termed else (), signal.SIGTERM)
            termed |= new
        time.sleep(0.2)
    killed: set[int] = set()
    deadline = time.monotonic() + kill_seconds
    while (live := find_processes(groups, token, exclude)) and time.monotonic() < deadline:
        _signal_all(live, groups, signal.SIGKILL)
        killed |= live
        time.sleep(0.2)
    return len(termed), len(killed)


def _say(text: str) -> None:
    # The terminal may be gone (that may be why the supervisor died): never fail on a write.
    with contextlib.suppress(OSError):
        os.write(2, f"botbox watchdog: {text}\n".encode())


class _Stop(Exception):
    pass


def _raise_stop(_signum: int, _frame: FrameType | None) -> None:
    raise _Stop


def watch(pipe_fd: int, supervisor: int, token: str, grace: float, lock_fd: int) -> int:
    """Read ``pipe_fd`` until EOF (or SIGTERM), then stop every watched process; exit 0."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _raise_stop)
    groups: list[int] = []
    pending = b""
    try:
        while chunk := os.read(pipe_fd, 4096):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                word, _, value = line.decode().partition(" ")
                if word == "group" and value.isdigit():
                    groups.append(int(value))
                elif word == "forget" and value.isdigit() and int(value) in groups:
                    groups.remove(int(value))  # stopped before a restart: the id may be reused
    except _Stop:
        _say("SIGTERM received")
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    supervisor_gone = _process_group(supervisor) is None
    if lock_fd >= 0:
        with contextlib.suppress(OSError):
            _write_holder(
                lock_fd,
                os.getpid(),
                f"botbox watchdog of PID {supervisor}, stopping the processes it started",
            )
    if not os.path.isdir("/proc"):  # no way to see who is left: signal the groups blindly
        _signal_all((), groups, signal.SIGTERM)
        time.sleep(grace)
        _signal_all((), groups, signal.SIGKILL)
    elif left := find_processes(groups, token, [supervisor]):
        what = "is gone" if supervisor_gone else "has stopped"
        _say(f"supervisor PID {supervisor} {what}; stopping what it started and left:")
        for pid in sorted(left):
            _say(f"  {_describe(pid)}")
        termed, killed = stop_processes(groups, token, grace, [supervisor])
        _say(f"stopped {termed} processes ({killed} needed SIGKILL)")
    return 0


def _exec(parent: int, cmd: Sequence[str]) -> int:
    _set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the signal was armed
        return 1
    os.execvp(cmd[0], list(cmd))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("exec", help="exec a command that gets SIGTERM when --parent dies")
    ex.add_argument("--parent", type=int, required=True)
    ex.add_argument("cmd", nargs=argparse.REMAINDER)
    wd = sub.add_parser("watch", help="the watchdog: stop the processes when the pipe closes")
    wd.add_argument("--pipe-fd", type=int, required=True)
    wd.add_argument("--supervisor", type=int, required=True)
    wd.add_argument("--token", required=True)
    wd.add_argument("--grace", type=float, default=GRACE_SECONDS)
    wd.add_argument("--lock-fd", type=int, default=-1)
    args = parser.parse_args(argv)
    if args.command == "exec":
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not cmd:
            parser.error("exec needs a command")
        return _exec(args.parent, cmd)
    return watch(args.pipe_fd, args.supervisor, args.token, args.grace, args.lock_fd)


if __name__ == "__main__":
    sys.exit(main())
