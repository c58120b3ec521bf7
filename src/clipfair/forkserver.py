"""A fork server for a local run's jobs: torch, open_clip, transformers ... imported once.

Snakemake runs every step as its own ``clipfair`` process, and a model job spends 3-9 s
importing torch, open_clip and transformers before its first line of work (``clipfair
bench-grid`` shows it). On a local run the Snakefile starts one server (:func:`start`, from
``onstart``) that imports them and every clipfair module, then listens on a Unix socket; the
jobs see its path in ``CLIPFAIR_FORKSERVER``. The ``clipfair`` entry point (:func:`forward`)
then sends the server its argv, working folder, environment and its stdin/stdout/stderr (the
descriptors themselves, SCM_RIGHTS); the server forks a child that runs the command as the
process would have (same descriptors, folder, environment, ``sys.argv``), and sends back its
exit status. The entry point stays the job's process and exits with that status: Snakemake's
benchmark times it, and when it dies (Snakemake kills a job, Ctrl-C) the server kills the
child's process group. The server exits with Snakemake (``onsuccess``/``onerror`` call
:func:`stop`; it also watches its parent).

A job runs the plain way (nothing is lost, it only imports for itself) when there is no
server, or the server is not ready yet (a command that imports torch waits for one that is
still importing, :data:`WAIT_COMMANDS`), or it refuses: an environment variable differs from
the server's (other than the shell's own and ``CLIPFAIR_*``, which are read at call time), or
the module search path differs, or an import loaded the CUDA driver (CUDA does not survive
a fork; torch itself initializes it lazily, in the child). Slurm jobs never use it
(``SLURM_JOB_ID``): a forked child would run outside the job's allocation.
``CLIPFAIR_NO_FORKSERVER=1`` turns it off. A job's process tree is the entry point alone, so
Snakemake's benchmark files have its wall time but not the child's CPU time or memory: the
phase line the job's log ends with has them (``clipfair bench-stages`` reads both).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clipfair.io import atomic_path
from clipfair.runtime import THREAD_ENV

ENV = "CLIPFAIR_FORKSERVER"  # the socket's path, for the jobs
MIN_MODEL_JOBS = 2  # model jobs a run needs for a server to pay off
OFF_ENV = "CLIPFAIR_NO_FORKSERVER"
# Variables that may differ between the server and a job: set by the shell for each command,
# read at call time, or set by Snakemake for each job and applied by the child itself
# (thread counts: :func:`_apply_threads`; the temp folder: tempfile asks again).
_PER_JOB_ENV = frozenset(
    {"_", "SHLVL", "PWD", "OLDPWD", "TMPDIR", "TMP", "TEMPDIR", "TEMP", "COLUMNS", "LINES"}
)

_HEADER = struct.Struct("!I")


# More variables a server may ignore, named (comma-separated) in its environment: set per
# command by whoever runs the commands and read at call time (the test suite's server:
# PYTEST_CURRENT_TEST).
IGNORE_ENV = "CLIPFAIR_FORKSERVER_IGNORE_ENV"


def _env_differs(
    env: dict[str, str], mine: dict[str, str], set_by_imports: dict[str, str] | None = None
) -> str | None:
    """The first variable that differs between ``env`` and ``mine``, or None. A variable the
    server's imports set (``set_by_imports``) may also have the value they gave it."""
    also = set(filter(None, mine.get(IGNORE_ENV, "").split(",")))
    imports = set_by_imports or {}
    for key in sorted(set(env) | set(mine)):
        if key in _PER_JOB_ENV or key in THREAD_ENV or key.startswith("CLIPFAIR_") or key in also:
            continue
        if env.get(key) != mine.get(key) and (key not in imports or env.get(key) != imports[key]):
            return key
    return None


# ---------------------------------------------------------------------------------------------
# client: the `clipfair` entry point

# The commands that import torch (the model jobs and the cells): one that starts while the
# server is still importing waits for it (up to WAIT_S), since importing beside it would
# cost as much and slow both. The others (downloads, ingest, tables) import little: they
# run by themselves.
WAIT_COMMANDS = frozenset(
    [
        "train-clip",
        "embed",
        "finetune",
        "vggface-transfer",
        "vggface-weights",
        "run-cells",
        "convert-hf",
    ]
)
WAIT_S = 60.0
PID_FILE = "pid"  # beside the socket: the server's pid, from start() on


def _server_alive(folder: Path) -> bool:
    """Whether the server whose folder this is still runs (its pid file names a live,
    non-zombie process)."""
    try:
        pid = int((folder / PID_FILE).read_text())
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return False
    return state not in ("Z", "X")


def _wait_until_ready(path: str) -> bool:
    """Wait for a server that is still importing to bind ``path``; False if it is not
    running or takes longer than WAIT_S."""
    folder = Path(path).parent
    end = time.monotonic() + WAIT_S
    while _server_alive(folder) and time.monotonic() < end:
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    return os.path.exists(path)


def forward(argv: list[str]) -> int | None:
    """Run ``argv`` in a child of the fork server and return its exit status; None when there
    is no usable server (the caller runs the command itself)."""
    path = os.environ.get(ENV)
    if not path or os.environ.get(OFF_ENV) == "1" or "SLURM_JOB_ID" in os.environ:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.connect(path)
        except FileNotFoundError:
            if not (argv and argv[0] in WAIT_COMMANDS and _wait_until_ready(path)):
                raise
            sock.connect(path)
    except OSError:
        sock.close()
        return None  # not started, not ready yet, or gone
    from clipfair.phases import process_age_s

    request = {
        "argv": argv,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "path": sys.path[1:],  # [0] is the script's folder (the venv's bin)
        "age_s": process_age_s(),
    }
    body = json.dumps(request).encode()
    with sock:
        socket.send_fds(sock, [_HEADER.pack(len(body)) + body], [0, 1, 2])
        reply = sock.makefile("rb")
        first = json.loads(reply.readline() or b"{}")
        if "pid" not in first:
            reason = first.get("fallback", "no answer")
            print(f"clipfair: fork server not used ({reason}); running directly", file=sys.stderr)
            return None
        # If this process dies (Snakemake kills the job), the socket closes and the server
        # kills the child.
        last = json.loads(reply.readline() or b"{}")
    if "exit" not in last:
        print("clipfair: the fork server went away while the job ran", file=sys.stderr)
        return 1
    return int(last["exit"])


# ---------------------------------------------------------------------------------------------
# server


@dataclass
class _Job:
    conn: socket.socket
    pid: int
    cancelled_at: float | None = None  # when its entry point went away (SIGTERM sent)


KILL_AFTER_S = 10.0  # a cancelled child still there gets SIGKILL


def preload() -> list[str]:
    """Import what the jobs import (:mod:`clipfair.precompile`'s lists, every clipfair
    module among them); return what failed (a job needing it imports it itself)."""
    from clipfair.precompile import JOB_LIBRARIES, TORCH_STACK, import_all

    failed: list[str] = []
    import_all(JOB_LIBRARIES + TORCH_STACK, failed)
    return failed


def _read_request(conn: socket.socket) -> tuple[dict, list[int]]:
    conn.settimeout(10)
    data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
    if not data and not fds:
        raise EOFError("closed without a request")
    if len(data) < _HEADER.size:
        raise ValueError("short request")
    (size,) = _HEADER.unpack_from(data)
    body = bytearray(data[_HEADER.size :])
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ValueError("truncated request")
        body += chunk
    conn.settimeout(None)
    return json.loads(body), list(fds)


@dataclass
class _State:
    """The server's environment before its imports, and what its imports set in it (a
    library that sets a variable when imported: the children get it as a fresh process
    would)."""

    env: dict[str, str]
    set_by_imports: dict[str, str]
    cuda_loaded: bool  # CUDA does not survive a fork: then every job runs by itself


def _cuda_loaded() -> bool:
    """Whether this process has the CUDA driver loaded (an import that initialized CUDA)."""
    try:
        return "libcuda.so" in Path("/proc/self/maps").read_text()
    except OSError:
        return False


def _refusal(request: dict, fds: list[int], state: _State) -> str | None:
    if len(fds) != 3:
        return f"expected stdin, stdout and stderr, got {len(fds)} descriptors"
    # (a variable the server's imports set, e.g. open_clip's TOKENIZERS_PARALLELISM, may be
    # there already with that value: a process that imported them itself would have it too)
    key = _env_differs(request["env"], state.env, state.set_by_imports)
    if key is not None:
        return f"environment variable {key} differs from the server's"
    if request["path"] != sys.path:
        return "module search path differs from the server's"
    if state.cuda_loaded:
        return "the server loaded the CUDA driver while importing (a forked child cannot use it)"
    return None


def _apply_threads(env: dict[str, str]) -> None:
    """Give the loaded thread pools the counts Snakemake set for the job, which a fresh
    process would have read from its environment when it loaded them."""
    from clipfair.runtime import set_threads

    with contextlib.suppress(KeyError, ValueError):
        set_threads(int(env["OMP_NUM_THREADS"]))


def _run_child(request: dict, fds: list[int], received: float, state: _State) -> None:
    """In the forked child: become the job's process, run the command, exit."""
    code = 1
    try:
        os.setpgid(0, 0)  # the server kills the whole group if the job is cancelled
        with contextlib.suppress(Exception):  # die with the server (Linux)
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != request["server_pid"]:  # the server died before that
            os._exit(128 + signal.SIGTERM)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.set_wakeup_fd(-1)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdout.reconfigure(line_buffering=os.isatty(1))
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"] | state.set_by_imports)
        tempfile.tempdir = None  # the job's TMPDIR
        _apply_threads(os.environ)
        sys.argv = ["clipfair", *request["argv"]]
        from clipfair import phases

        if request.get("age_s") is not None:  # start-up from the entry point's creation
            phases.started_at = received - request["age_s"]
        from clipfair.cli import main

        try:
            main(request["argv"])
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except KeyboardInterrupt:
            code = 128 + signal.SIGINT
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        import atexit

        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _send(conn: socket.socket, message: dict) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(message).encode() + b"\n")


def _kill_group(pid: int, sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _escalate(jobs: dict[int, _Job], now: float) -> list[int]:
    """SIGKILL the process group of every cancelled child still there KILL_AFTER_S after its
    SIGTERM (one that ignores or outlasts it); their pids."""
    late = [
        job.pid
        for job in jobs.values()
        if job.cancelled_at is not None and now - job.cancelled_at > KILL_AFTER_S
    ]
    for pid in late:
        _kill_group(pid, signal.SIGKILL)
    return late


def serve(path: str, parent: int) -> None:
    """Preload, then listen on ``path`` until SIGTERM or until ``parent`` is gone."""
    before = dict(os.environ)
    began, cpu = time.monotonic(), time.process_time()
    failed = preload()
    set_by_imports = {k: v for k, v in os.environ.items() if before.get(k) != v}
    state = _State(before, set_by_imports, _cuda_loaded())
    for line in failed:
        print(f"forkserver: not preloaded: {line}", file=sys.stderr)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = f"{path}.tmp"
    listener.bind(tmp)
    listener.listen(64)
    os.replace(tmp, path)  # the socket appears when the server is ready
    print(
        f"forkserver: ready on {path} (pid {os.getpid()}), imports took"
        f" {time.monotonic() - began:.1f} s ({time.process_time() - cpu:.1f} s CPU)",
        flush=True,
    )
    jobs: dict[int, _Job] = {}  # by the connection's fd
    try:
        while not stopping and os.getppid() == parent:
            running = [job.conn for job in jobs.values() if job.cancelled_at is None]
            readable, _, _ = select.select([listener, wake_r, *running], [], [], 1.0)
            if wake_r in readable:
                with contextlib.suppress(BlockingIOError, InterruptedError):
                    os.read(wake_r, 4096)
            _reap(jobs)
            for conn in readable:
                if conn is listener:
                    _accept(listener, jobs, (listener, wake_r, wake_w), state)
                elif conn is not wake_r and conn.fileno() in jobs:
                    job = jobs[conn.fileno()]  # EOF: the job's entry point is gone
                    job.cancelled_at = time.monotonic()
                    _kill_group(job.pid)
            _escalate(jobs, time.monotonic())
    finally:
        for job in jobs.values():
            _kill_group(job.pid)
        _remove(path)


def _accept(listener: socket.socket, jobs: dict[int, _Job], own: tuple, state: _State) -> None:
    conn, _ = listener.accept()
    received = time.monotonic()
    fds: list[int] = []
    try:
        request, fds = _read_request(conn)
        request["server_pid"] = os.getpid()
        reason = _refusal(request, fds, state)
    except EOFError:  # a probe (clear_stale): it only checked that the server is alive
        conn.close()
        return
    except (OSError, ValueError) as exc:
        reason = f"bad request: {exc}"
    if reason is not None:
        print(f"forkserver: refused a job: {reason}", flush=True)
        _send(conn, {"fallback": reason})
        conn.close()
        for fd in fds:
            os.close(fd)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        listener_, wake_r, wake_w = own
        for s in (listener_, *(j.conn for j in jobs.values()), conn):
            s.close()
        os.close(wake_r)
        os.close(wake_w)
        _run_child(request, fds, received, state)
    for fd in fds:
        os.close(fd)
    print(f"forkserver: {pid} runs clipfair {' '.join(request['argv'])[:300]}", flush=True)
    _send(conn, {"pid": pid})
    jobs[conn.fileno()] = _Job(conn, pid)


def _reap(jobs: dict[int, _Job]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        for key, job in list(jobs.items()):
            if job.pid == pid:
                code = os.waitstatus_to_exitcode(status)  # -N: killed by signal N
                code = code if code >= 0 else 128 - code
                print(f"forkserver: {pid} exited {code}", flush=True)
                _send(job.conn, {"exit": code})
                job.conn.close()
                del jobs[key]


# ---------------------------------------------------------------------------------------------
# lifecycle, for the Snakefile


@dataclass
class Server:
    """A started server: its process, socket and log."""

    process: subprocess.Popen
    path: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        _remove(self.path)


def _remove(path: str) -> None:
    """Remove a server's socket, pid file and folder."""
    folder = os.path.dirname(path)
    for name in (path, os.path.join(folder, PID_FILE)):
        with contextlib.suppress(OSError):
            os.unlink(name)
    with contextlib.suppress(OSError):  # the folder start() made, once empty
        os.rmdir(folder)


def worth_it(resources: Iterable[Mapping[str, Any]]) -> bool:
    """Whether a run gains from a server, given the resources of its jobs' rules: the model
    jobs (the rules that declare a ``gpu`` resource) import torch and open_clip, and a run
    needs two of them, one at least starting after the server's ~11 s of imports (a rerun
    of a few cells and the tables has none)."""
    return sum("gpu" in r for r in resources) >= MIN_MODEL_JOBS


FOLDER_PREFIX = "clipfair-fs-"
STALE_EMPTY_S = 3600.0  # an empty folder this old is no server preloading


def clear_stale(tmp: Path) -> list[Path]:
    """Remove the folders of servers killed before they could (SIGKILL: Snakemake and its
    process group killed at once): this user's, whose pid file names a process that is gone,
    or (without one) holding a socket nobody listens on, or empty for over an hour. Return
    them."""
    removed = []
    for folder in tmp.glob(f"{FOLDER_PREFIX}*"):
        try:
            if not folder.is_dir() or folder.stat().st_uid != os.getuid():
                continue
            sock = folder / "socket"
            if (folder / PID_FILE).exists():
                if _server_alive(folder):
                    continue  # a live server, perhaps still importing
            elif sock.exists():
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    try:
                        probe.connect(str(sock))
                        continue  # a live server
                    except ConnectionRefusedError:
                        pass
            elif time.time() - folder.stat().st_mtime < STALE_EMPTY_S:
                continue  # perhaps a server still importing
            for leftover in folder.iterdir():
                leftover.unlink()
            folder.rmdir()
            removed.append(folder)
        except OSError:
            continue
    return removed


def start(log: Path) -> Server | None:
    """Start a server beside this process and point this process's children at it
    (``CLIPFAIR_FORKSERVER``); None where it is turned off or there is no fork."""
    if os.environ.get(OFF_ENV) == "1" or not hasattr(os, "fork"):
        return None
    clear_stale(Path(tempfile.gettempdir()))
    folder = tempfile.mkdtemp(prefix=FOLDER_PREFIX)  # short: socket paths max ~107 bytes
    path = os.path.join(folder, "socket")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "clipfair.forkserver", path, str(os.getpid())],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    with atomic_path(os.path.join(folder, PID_FILE)) as tmp:
        tmp.write_text(str(process.pid))
    os.environ[ENV] = path
    return Server(process, path, log)


def stop(server: Server | None) -> None:
    """Stop a server from :func:`start` (None: nothing to do)."""
    os.environ.pop(ENV, None)
    if server is not None:
        server.stop()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # tearing down the preloaded modules would take seconds
