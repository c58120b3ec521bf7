"""DVC around Snakemake, in a real temporary git + DVC repo: repro, no-op repro, experiments."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

import pytest

from clipfair.bench.dag import job_stats

from .conftest import run


def git_repo(folder):
    """Make ``folder`` a git repository with everything in it committed (an identity in its
    own config where git has none: DVC's experiments commit too)."""
    run(["git", "init", "-q", "-b", "main"], folder)
    for key, value in (("name", "test"), ("email", "test@localhost")):
        if run(["git", "config", f"user.{key}"], folder, check=False).returncode != 0:
            run(["git", "config", f"user.{key}", value], folder)
    run(["git", "add", "-A"], folder)
    run(["git", "commit", "-qm", "baseline"], folder)
    return folder


@pytest.fixture(scope="module")
def dvc_repo(small_demo_run, tmp_path_factory):
    """A git repo holding a finished plain `snakemake --cores all` of the small demo (the
    session's shared run, copied with its mtimes and Snakemake's records)."""
    repo = tmp_path_factory.mktemp("dvcrepo") / "repo"
    shutil.copytree(small_demo_run, repo, symlinks=True)
    return git_repo(repo)


@pytest.mark.slow
def test_first_experiment_after_make_demo_reruns_only_the_probes(small_demo_run, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(small_demo_run, repo, symlinks=True)  # a finished `snakemake --cores all`
    git_repo(repo)
    # what `make demo` does after its run: record the outputs in DVC as the preset it ran
    # (params.yaml untouched); nothing committed to git afterwards, as a new user would
    params = (repo / "params.yaml").read_bytes()
    run(["clipfair", "record-run", "--preset", "demo"], repo)
    assert (repo / "params.yaml").read_bytes() == params
    assert "preset: demo" in (repo / "dvc.lock").read_text()
    # the raw downloads and the image caches are recorded in dvc.lock, not copied into DVC's
    # cache
    cached = {f.stat().st_size for f in (repo / ".dvc/cache").rglob("*") if f.is_file()}
    for big in ("raw/fairface_demo/0.25/images.zip", "interim/fairface_demo/train_images.npy"):
        assert (repo / "data" / big).stat().st_size not in cached, big
    assert "data/interim" in (repo / "dvc.lock").read_text()
    exp = run(
        ["dvc", "exp", "run", "-S", "preset=demo", "-S", "probe.c_min=0.00001",
         "-S", "probe.c_max=0.0001"],
        repo,
        timeout=900,
    )  # fmt: skip
    ran = set(job_stats(exp.stdout + exp.stderr))
    assert "cells_probes" in ran, exp.stdout[-3000:]
    tables = {"summarize", "compare", "plots", "topk_sweep", "run_config", "all"}
    assert ran <= {"cells_probes", *tables}, ran


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _metric(summary: dict, method: str) -> float:
    return summary["tiny-vit"]["demo_full"][method]["accuracy"]


def _headline(repo) -> dict:
    return json.loads((repo / "metrics/headline.json").read_text())["tiny-vit"]["demo_full"]


@pytest.mark.slow
def test_repro_then_noop_then_experiment(dvc_repo):
    repo = dvc_repo
    # no dvc.lock yet: DVC runs the stage's command, Snakemake finds every model and cell
    # done, DVC records every out (the from-scratch repro is the queued experiment's, below)
    first = run(["dvc", "repro"], repo, timeout=1500)
    assert "Running stage 'pipeline'" in first.stdout, first.stdout
    ran = set(job_stats(first.stdout + first.stderr))
    assert not ran & {"acquire", "ingest", "train_clip", "embed", "finetune", "cells_probes"}
    base = json.loads((repo / "metrics/summary.json").read_text())
    assert (repo / "dvc.lock").is_file()

    again = run(["dvc", "repro"], repo)
    assert "didn't change" in again.stdout or "up to date" in again.stdout, again.stdout
    status = run(["dvc", "status"], repo)
    assert "up to date" in status.stdout, status.stdout

    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "demo run"], repo)
    probe_pred = repo / "data/predictions/fairface_demo/tiny-vit/demo_full/probe_gender.parquet"
    raw_zip = repo / "data/raw/fairface_demo/0.25/images.zip"
    committed = {p: _sha(p) for p in (probe_pred, raw_zip)}

    # heavy regularisation: the probe's accuracy must change, zero-shot must not
    exp = run(
        [
            "dvc",
            "exp",
            "run",
            "-n",
            "strong-reg",
            "-S",
            "probe.c_min=0.00001",
            "-S",
            "probe.c_max=0.0001",
            "-S",
            "probe.n_c=2",
        ],
        repo,
        timeout=1500,
    )
    assert "train_clip" not in job_stats(exp.stdout + exp.stderr)
    after = json.loads((repo / "metrics/summary.json").read_text())
    assert _metric(after, "zs_raw_gender_labels_mean") == _metric(base, "zs_raw_gender_labels_mean")
    assert _metric(after, "probe_gender") != _metric(base, "probe_gender")

    # dvc exp show: the headline metric only (a few numbers a model); the small demo's
    # gender headline is zero-shot, which the probe's C does not move
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    values = {}
    for commit in shown:
        for entry in [commit, *(e for exp in commit.get("experiments") or [] for e in exp["revs"])]:
            data = entry.get("data") or {}
            metrics = data.get("metrics", {})
            assert set(metrics) <= {"metrics/headline.json"}, set(metrics)
            if metrics:
                head = metrics["metrics/headline.json"]["data"]["tiny-vit"]["demo_full"]
                values[data.get("name") or entry.get("name") or entry["rev"]] = head
    assert len(values) >= 2 and all(len(v) <= 7 for v in values.values()), values
    assert len({v["gender_acc"] for v in values.values()}) == 1, values

    # the full per-cell table, by target: the probe moved, zero-shot did not
    diff = run(["dvc", "metrics", "diff", "--json", "--targets", "metrics/summary.json"], repo)
    changed = json.loads(diff.stdout)["metrics/summary.json"]
    assert "tiny-vit.demo_full.probe_gender.accuracy" in changed
    assert "tiny-vit.demo_full.zs_raw_gender_labels_mean.accuracy" not in changed

    # back to the committed run: git restores params and dvc.lock, DVC the data it used
    assert _sha(probe_pred) != committed[probe_pred]
    run(["git", "checkout", "--", "."], repo)
    run(["dvc", "checkout"], repo)
    assert {p: _sha(p) for p in committed} == committed
    status = run(["dvc", "status"], repo)
    assert "up to date" in status.stdout, status.stdout


@pytest.mark.slow
def test_dvc_plots_render(dvc_repo):
    repo = dvc_repo
    if not (repo / "metrics/plots/topk.csv").is_file():  # the repro test runs first
        run(["dvc", "repro"], repo, timeout=1500)
    out = repo / "plots_html"
    run(["dvc", "plots", "show", "--out", str(out)], repo)
    html = (out / "index.html").read_text()
    for name in ("accuracy_by_race", "topk", "probe_sweep", "confusion_gender"):
        assert f"metrics_plots_{name}_csv" in html, name  # one vega-lite spec per plot


def _chromium():
    """Debian's Chromium: CI installs it (CLIPFAIR_REQUIRE_CHROMIUM=1 turns its absence into
    a failure); elsewhere the browser tests say how to get it."""
    from .browser import CHROMIUM

    if CHROMIUM is None:
        if os.environ.get("CLIPFAIR_REQUIRE_CHROMIUM") == "1":
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("headless Chromium not installed (apt-get install chromium)")


@pytest.mark.slow
def test_dvc_plots_open_offline_in_a_real_browser(dvc_repo):
    """`dvc plots show` with the project's template (.dvc/config plots.html_template) draws
    every plot in headless Chromium with the network off; DVC's default page, which loads
    vega from a CDN, draws none there (the check can fail)."""
    import dvc_render.html

    from clipfair.report.offline_html import LIBRARIES, inlined_libraries

    from .browser import ARTIFACTS, open_offline

    _chromium()
    repo = dvc_repo
    if not (repo / "metrics/plots/topk.csv").is_file():  # the repro test runs first
        run(["dvc", "repro"], repo, timeout=1500)
    html = (repo / ".dvc/offline_plots.html").read_text()
    libs = inlined_libraries(html)
    assert [(lib["package"], lib["version"]) for lib in libs] == [
        (p, v) for p, (v, _) in LIBRARIES.items()
    ]
    assert all(lib["sha"] == lib["actual"] for lib in libs)  # the file is what npm gave
    run(["dvc", "plots", "show", "--out", "offline"], repo)
    page = repo / "offline" / "index.html"
    assert "cdn.jsdelivr" not in page.read_text()
    n_plots = page.read_text().count("vegaEmbed('#")
    assert n_plots >= 7
    shot = ARTIFACTS / "dvc_plots_offline.png"
    shown = open_offline(page, screenshot=shot)
    assert shown.errors == []
    assert shown.dom.count("<canvas") == n_plots  # one drawn chart per plot
    assert shot.stat().st_size > 50_000  # a picture of the charts, not a blank page
    # the same plots through DVC's default page: nothing draws offline
    default = repo / "default_template.html"
    default.write_text(dvc_render.html.PAGE_HTML)
    run(["dvc", "plots", "show", "--out", "cdn", "--html-template", str(default)], repo)
    broken = open_offline(repo / "cdn" / "index.html")
    assert broken.dom.count("<canvas") == 0
    assert any("vegaEmbed is not defined" in e for e in broken.errors)


@pytest.mark.slow
def test_queued_experiment_runs_in_a_temp_copy(dvc_repo):
    repo = dvc_repo
    if not (repo / "dvc.lock").is_file():
        run(["dvc", "repro"], repo, timeout=1500)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "state before queueing", "--allow-empty"], repo)
    run(["dvc", "exp", "run", "--queue", "-n", "queued-holdout", "-S", "probe.holdout=0.5"], repo)
    run(["dvc", "queue", "start"], repo)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        status = run(["dvc", "queue", "status"], repo).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(5)
    assert "Success" in status, status
    # the temp copy has no downloads or image caches (cache: false outs): it ran every step
    logs = run(["dvc", "queue", "logs", "queued-holdout"], repo).stdout
    assert {"acquire", "ingest", "train_clip", "embed", "cells_probes"} <= set(job_stats(logs))
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    names = json.dumps(shown)
    assert "queued-holdout" in names
