"""The time until the table exists on a cluster with N GPUs, and the chain of jobs that sets it.

The jobs and their dependencies are Snakemake's own plan of the grid (``snakemake --dag``);
each job takes its rule's projected time (:mod:`clipfair.bench.projection`). GPU jobs wait
for one of N GPUs, CPU jobs start as soon as their inputs exist (a cluster's CPU nodes are
taken to be plentiful). Among waiting GPU jobs the one with the longest path still ahead of it
starts first. The chain is followed back from the last job: each step is the input that
finished last or, where a job waited for a GPU, the job that freed it.
"""

from __future__ import annotations

import heapq
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

_NODE = re.compile(r'^\s*(\d+)\[label = "([^"]*)"', re.M)
_EDGE = re.compile(r"^\s*(\d+) -> (\d+)", re.M)


@dataclass
class Job:
    """One job of the plan, with its projected seconds and, once scheduled, its times."""

    rule: str
    label: str
    seconds: float = 0.0
    gpu: bool = False
    needs: list[int] = field(default_factory=list)
    start: float = 0.0
    end: float = 0.0
    cause: int | None = None  # the job it waited for last (an input, or the GPU's last user)


def parse_dag(dot: str) -> dict[int, Job]:
    """Jobs and their inputs from ``snakemake --dag`` output (Graphviz dot)."""
    jobs = {}
    for number, label in _NODE.findall(dot):
        rule, *wildcards = label.split("\\n")
        jobs[int(number)] = Job(rule, ", ".join(w.split(": ", 1)[-1] for w in wildcards))
    for src, dst in _EDGE.findall(dot):
        jobs[int(dst)].needs.append(int(src))
    return jobs


def planned_dag(cwd: str | Path = ".", preset: str = "real") -> dict[int, Job]:
    """The jobs of a preset's whole grid as Snakemake plans them."""
    out = subprocess.run(
        ["snakemake", "-n", "--forceall", "--dag", "--config", f"preset={preset}"],
        cwd=cwd, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return parse_dag(out)


def _users(jobs: dict[int, Job]) -> dict[int, list[int]]:
    """Each job's users: the jobs that need it."""
    users: dict[int, list[int]] = {j: [] for j in jobs}
    for j, job in jobs.items():
        for n in job.needs:
            users[n].append(j)
    return users


def _ahead(jobs: dict[int, Job], users: dict[int, list[int]]) -> dict[int, float]:
    """Each job's longest path to the end, its own time included."""
    ahead: dict[int, float] = {}

    def visit(j: int) -> float:
        if j not in ahead:
            ahead[j] = jobs[j].seconds + max((visit(u) for u in users[j]), default=0.0)
        return ahead[j]

    for j in jobs:
        visit(j)
    return ahead


def schedule(jobs: dict[int, Job], gpus: int) -> list[Job]:
    """Schedule ``jobs`` (in place) on ``gpus`` GPUs; returns the chain that ends last, first
    job first."""
    if gpus < 1:
        raise ValueError(f"gpus must be at least 1; got {gpus}")
    users = _users(jobs)
    ahead = _ahead(jobs, users)
    waiting = {j: len(job.needs) for j, job in jobs.items()}
    events: list[tuple[float, int]] = []  # (end, job)
    ready_gpu: list[tuple[float, int]] = []  # (-ahead, job)
    free, last_gpu_user = gpus, None
    now = 0.0

    def last_input(j: int) -> int | None:
        return max(jobs[j].needs, key=lambda n: jobs[n].end, default=None)

    def start(j: int, cause: int | None) -> None:
        job = jobs[j]
        job.start, job.end, job.cause = now, now + job.seconds, cause
        heapq.heappush(events, (job.end, j))

    def became_ready(j: int) -> None:
        if jobs[j].gpu:
            heapq.heappush(ready_gpu, (-ahead[j], j))
        else:
            start(j, last_input(j))

    for j in jobs:
        if not waiting[j]:
            became_ready(j)
    while True:
        while free and ready_gpu:
            _, j = heapq.heappop(ready_gpu)
            cause = last_input(j)
            inputs_done = jobs[cause].end if cause is not None else 0.0
            waited = now > inputs_done and last_gpu_user is not None
            start(j, last_gpu_user if waited else cause)
            free -= 1
        if not events:
            break
        now, j = heapq.heappop(events)
        if jobs[j].gpu:
            free, last_gpu_user = free + 1, j
        for user in users[j]:
            waiting[user] -= 1
            if not waiting[user]:
                became_ready(user)
    unscheduled = [job.rule for j, job in jobs.items() if waiting[j]]
    if unscheduled:
        raise ValueError(f"the plan has a cycle through {sorted(set(unscheduled))}")
    chain, j = [], max(jobs, key=lambda k: jobs[k].end)
    while j is not None:
        chain.append(jobs[j])
        j = jobs[j].cause
    return chain[::-1]


def describe_chain(chain: list[Job]) -> str:
    """One line per job of the chain: start and end in hours, and where it ran."""
    lines = []
    for job in chain:
        if job.seconds == 0 and job.rule == "all":
            continue
        where = "GPU" if job.gpu else "CPU"
        name = f"{job.rule} ({job.label})" if job.label else job.rule
        lines.append(f"  {job.start / 3600:6.2f} h -> {job.end / 3600:6.2f} h  {where}  {name}")
    return "\n".join(lines)
