"""The fork server: jobs forked from one preloaded process give what a fresh process gives."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clipfair import forkserver
from clipfair.phases import PREFIX
from tests.conftest import ROOT, tiny_open_clip_and_hf


def _wait_ready(server: forkserver.Server, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not os.path.exists(server.path):
        assert server.process.poll() is None, server.log.read_text()
        assert time.monotonic() < end, "the server did not get ready"
        time.sleep(0.1)


@pytest.fixture(scope="module", autouse=True)
def servers_allowed():
    """These tests start servers even under `CLIPFAIR_NO_FORKSERVER=1 make test` (which turns
    off the suite's own, conftest.fork_server)."""
    off = os.environ.pop(forkserver.OFF_ENV, None)
    yield
    if off is not None:
        os.environ[forkserver.OFF_ENV] = off


@pytest.fixture(scope="module")
def server(servers_allowed, tmp_path_factory: pytest.TempPathFactory):
    """A preloaded server; the jobs get its path through their env, not this process's."""
    suite = os.environ.get(forkserver.ENV)  # the suite's own (conftest.fork_server)
    srv = forkserver.start(tmp_path_factory.mktemp("forkserver") / "forkserver.log")
    os.environ.pop(forkserver.ENV)  # only the subprocesses given `env` below use it
    if suite:
        os.environ[forkserver.ENV] = suite
    _wait_ready(srv)
    yield srv
    srv.stop()


def _env_of(server: forkserver.Server) -> dict[str, str]:
    """The server's environment: what a Snakemake job started beside it has."""
    raw = Path(f"/proc/{server.process.pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def _phases(stderr: str) -> dict:
    lines = [x for x in stderr.splitlines() if x.startswith(PREFIX)]
    assert len(lines) == 1, stderr[-2000:]
    return json.loads(lines[0][len(PREFIX) :])


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def _convert_hf(tmp_path: Path, out: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`clipfair convert-hf` (torch + transformers) of tiny_open_clip_and_hf's checkpoint."""
    config = ROOT / "workflow" / "models" / "tiny-clip-vit.json"
    cmd = f"clipfair convert-hf --checkpoint {tmp_path / 'oc.safetensors'}"
    cmd += f" --model-config {config} --out {out}"
    return subprocess.run(cmd, shell=True, capture_output=True, text=True, env=env)


def test_a_forked_job_writes_what_a_fresh_process_writes_without_importing(server, tmp_path):
    """convert-hf (torch + transformers) run both ways: the same files byte for byte, the same
    output; the forked one spends no time importing, and says how long it took to start."""
    _, _ = tiny_open_clip_and_hf(tmp_path)
    env = _env_of(server) | {"CLIPFAIR_PHASES": "1"}
    results = {}
    for how in ("plain", "forked"):
        job_env = env | {forkserver.ENV: server.path if how == "forked" else ""}
        proc = _convert_hf(tmp_path, tmp_path / how, job_env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "fork server not used" not in proc.stderr
        results[how] = (proc, _phases(proc.stderr))
    files = sorted(p.name for p in (tmp_path / "plain").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "forked").iterdir())
    for name in files:
        a, b = (tmp_path / "plain" / name).read_bytes(), (tmp_path / "forked" / name).read_bytes()
        assert a == b, name
    plain, forked = results["plain"][1], results["forked"][1]
    assert plain["import_s"] > 1.0 and forked["import_s"] < 0.2, (plain, forked)
    assert 0 < forked["startup_s"] < 5 and forked["peak_rss_mb"] > 100
    said = {
        how: proc.stdout.replace(str(tmp_path / how), "OUT") for how, (proc, _) in results.items()
    }
    assert said["plain"] == said["forked"] and "OUT" in said["plain"]


def test_exit_status_stdin_env_and_cancelling_go_through(server, tmp_path):
    env = _env_of(server) | {forkserver.ENV: server.path}
    # argparse's error (2) and a known input problem (1, one line naming the item): what a
    # fresh process says, forked
    for argv in (["embed", "--nope"], ["bench-grid", str(tmp_path / "none")]):
        forked = subprocess.run(["clipfair", *argv], capture_output=True, text=True, env=env)
        plain = subprocess.run(
            ["clipfair", *argv], capture_output=True, text=True, env=env | {forkserver.ENV: ""}
        )
        assert forked.returncode == plain.returncode and forked.returncode in (1, 2)
        assert forked.stderr == plain.stderr and forked.stdout == plain.stdout
        assert f"runs clipfair {' '.join(argv)}" in server.log.read_text()
    assert "exited 2" in server.log.read_text() and "exited 1" in server.log.read_text()
    # so does stdin (the child reads the entry point's)
    said = [
        subprocess.run(
            ["clipfair", "validate-config", "/dev/stdin"],
            input=(ROOT / "params.yaml").read_text().replace("\nseed: 0\n", "\nseed: -1\n"),
            capture_output=True,
            text=True,
            env=env | extra,
        )
        for extra in ({}, {forkserver.ENV: ""})
    ]
    assert said[0].returncode == said[1].returncode != 0 and "seed" in said[0].stderr
    assert said[0].stderr == said[1].stderr
    # a variable the server did not have: the job runs by itself, and says so
    other = subprocess.run(
        ["clipfair", "--version"], capture_output=True, text=True, env=env | {"HF_HOME": "/x"}
    )
    assert other.returncode == 0 and other.stdout.startswith("clipfair")
    assert "environment variable HF_HOME differs" in other.stderr
    # under Slurm the job's own process runs it (no message: the socket is not even tried)
    slurm = subprocess.run(
        ["clipfair", "--version"], capture_output=True, text=True, env=env | {"SLURM_JOB_ID": "1"}
    )
    assert slurm.returncode == 0 and slurm.stderr == ""

    # Snakemake cancels a job by killing its process: the forked child goes with it
    log = tmp_path / "probe.log"
    job = subprocess.Popen(
        f"exec clipfair bench-probe --n-train 400000 --threads 1 > {log} 2>&1", shell=True, env=env
    )
    end = time.monotonic() + 60
    while not _children(server.process.pid):
        assert time.monotonic() < end and job.poll() is None, log.read_text()
        time.sleep(0.1)
    (child,) = _children(server.process.pid)
    job.send_signal(signal.SIGTERM)
    job.wait(10)
    end = time.monotonic() + 10
    while child in _children(server.process.pid):
        assert time.monotonic() < end, "the forked job outlived its entry point"
        time.sleep(0.1)
    assert server.process.poll() is None  # the server goes on serving


def test_jobs_wait_for_an_importing_server_which_exits_with_its_parent(tmp_path):
    """A server's life. Jobs started before it is ready: a command that imports torch forks
    from it once it is (no imports of its own), one that imports little runs by itself at
    once. Then Snakemake is killed (no onsuccess/onerror): the server notices its parent is
    gone and removes its socket, pid file and folder."""
    _, _ = tiny_open_clip_and_hf(tmp_path)
    script = (
        "import sys, time; from pathlib import Path; from clipfair import forkserver\n"
        f"s = forkserver.start(Path({str(tmp_path / 'fs.log')!r}))\n"
        "print(s.path, s.process.pid, flush=True); time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    path, pid = parent.stdout.readline().split()
    assert not os.path.exists(path)  # importing for seconds from here
    env = dict(os.environ) | {forkserver.ENV: path, "CLIPFAIR_PHASES": "1"}  # the server's
    light = subprocess.run(
        ["clipfair", "validate-config", str(ROOT / "params.yaml")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert light.returncode == 0, light.stderr
    model = _convert_hf(tmp_path, tmp_path / "forked", env)
    assert model.returncode == 0, model.stderr[-3000:]
    assert _phases(model.stderr)["import_s"] < 0.2
    log = (tmp_path / "fs.log").read_text()
    assert "runs clipfair convert-hf" in log and "validate-config" not in log, log

    parent.kill()
    parent.wait()
    end = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and "zombie" not in _state(int(pid)):
        assert time.monotonic() < end, "the server outlived its parent"
        time.sleep(0.1)
    assert not Path(path).parent.exists()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (OSError, IndexError):
        return "zombie"


def test_only_a_run_with_model_jobs_starts_a_server():
    model, cell = {"gpu": 0, "mem_mb": 1000}, {"mem_mb": 1000}  # rules' resources
    assert forkserver.worth_it([model] * forkserver.MIN_MODEL_JOBS + [cell])
    assert not forkserver.worth_it([model] * (forkserver.MIN_MODEL_JOBS - 1) + [cell] * 20)


def test_folders_of_killed_servers_are_cleared_and_live_ones_kept(server, tmp_path):
    """A server killed with its Snakemake (SIGKILL) leaves its folder; the next start clears
    those: its pid file names a process that is gone, or (folders without one) a socket nobody
    listens on, or empty for an hour. A live or importing one stays."""
    dead = tmp_path / f"{forkserver.FOLDER_PREFIX}dead"
    dead.mkdir()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(dead / "socket"))  # bound, never listened on, closed: what a kill leaves
    old_empty, importing = (tmp_path / f"{forkserver.FOLDER_PREFIX}{n}" for n in ("old", "new"))
    old_empty.mkdir(), importing.mkdir()
    hours_ago = time.time() - 2 * forkserver.STALE_EMPTY_S
    os.utime(old_empty, (hours_ago, hours_ago))
    live = tmp_path / f"{forkserver.FOLDER_PREFIX}live"
    live.mkdir()
    (live / "socket").symlink_to(server.path)  # the running server's socket
    # with the pid file start() writes: at once, whatever the folder's age
    gone, running = (tmp_path / f"{forkserver.FOLDER_PREFIX}{n}" for n in ("gone", "running"))
    gone.mkdir(), running.mkdir()
    finished = subprocess.Popen(["true"])
    finished.wait()
    (gone / forkserver.PID_FILE).write_text(str(finished.pid))
    (running / forkserver.PID_FILE).write_text(str(os.getpid()))
    user_file = tmp_path / "clipfair-fs-notes.txt"  # not a folder: never touched
    user_file.write_text("keep")
    logged = server.log.read_text()
    assert sorted(forkserver.clear_stale(tmp_path)) == sorted([dead, old_empty, gone])
    assert importing.is_dir() and live.is_dir() and user_file.read_text() == "keep"
    assert running.is_dir()
    time.sleep(0.5)
    assert server.log.read_text() == logged  # the probe is not a job (nothing refused)


def test_which_environment_differences_refuse_a_job():
    server = {"PATH": "/bin", "HOME": "/root", forkserver.IGNORE_ENV: "PYTEST_CURRENT_TEST"}
    imports = {"TOKENIZERS_PARALLELISM": "false"}  # what the server's imports set

    def differs(**job: str) -> str | None:
        return forkserver._env_differs(server | job, server, imports)

    assert differs() is None
    assert differs(OMP_NUM_THREADS="1", TMPDIR="/tmp/job", CLIPFAIR_PHASES="1") is None
    assert differs(PYTEST_CURRENT_TEST="tests/x.py::y (call)") is None  # named by the server
    assert differs(TOKENIZERS_PARALLELISM="false") is None  # what the imports give it anyway
    assert differs(TOKENIZERS_PARALLELISM="true") == "TOKENIZERS_PARALLELISM"
    assert differs(HF_HOME="/x") == "HF_HOME"
    assert forkserver._env_differs({"PATH": "/bin"}, server, imports) == "HOME"


def test_the_commands_that_wait_for_a_server_exist_and_cover_the_model_rules():
    """WAIT_COMMANDS names subcommands (a renamed one would silently stop waiting), and the
    commands of the rules that declare a `gpu` resource are among them."""
    from clipfair.cli import build_parser

    (commands,) = (a.choices for a in build_parser()._actions if a.dest == "command")
    assert set(commands) >= forkserver.WAIT_COMMANDS
    rules = "".join(
        (ROOT / "workflow" / "rules" / f).read_text() for f in ("models.smk", "embed.smk")
    )
    for name in ("train-clip", "embed", "finetune", "vggface-transfer", "convert-hf"):
        assert f"clipfair {name}" in rules and name in forkserver.WAIT_COMMANDS


def test_a_cancelled_job_that_ignores_sigterm_is_killed_after_the_grace_time():
    """The server sends a cancelled job's group SIGTERM, then SIGKILL KILL_AFTER_S later."""
    job = subprocess.Popen(
        ["bash", "-c", "trap '' TERM; echo ready; exec sleep 60"],
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    ours, theirs = socket.socketpair()
    try:
        assert job.stdout.readline() == "ready\n"  # the trap is set
        jobs = {ours.fileno(): forkserver._Job(ours, job.pid, cancelled_at=time.monotonic())}
        forkserver._kill_group(job.pid)  # what the server sends first
        time.sleep(0.5)
        assert job.poll() is None  # it ignores SIGTERM
        cancelled = jobs[ours.fileno()].cancelled_at
        assert forkserver._escalate(jobs, cancelled + forkserver.KILL_AFTER_S / 2) == []
        time.sleep(0.2)
        assert job.poll() is None  # within the grace time it is left alone
        late = cancelled + forkserver.KILL_AFTER_S + 0.1
        assert forkserver._escalate(jobs, late) == [job.pid]
        assert job.wait(5) == -signal.SIGKILL
    finally:
        ours.close()
        theirs.close()
        if job.poll() is None:
            job.kill()
            job.wait()
        job.stdout.close()
