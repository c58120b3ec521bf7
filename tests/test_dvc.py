"""DVC around Snakemake, in a real temporary git + DVC repo: repro, no-op repro, experiments."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

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


def _after_make_demo(small_demo_run, tmp_path):
    """A git repo of a finished `snakemake --cores all` of the small demo, its params.yaml as
    committed: the real run by default (`make demo` passes --config preset=demo)."""
    repo = tmp_path / "repo"
    shutil.copytree(small_demo_run, repo, symlinks=True)
    text = (repo / "params.yaml").read_text()
    assert text.count("preset: demo\n") == 1
    (repo / "params.yaml").write_text(text.replace("preset: demo\n", "preset: real\n"))
    return git_repo(repo)


@pytest.mark.slow
def test_first_experiment_after_make_demo_reruns_only_the_probes(small_demo_run, tmp_path):
    repo = _after_make_demo(small_demo_run, tmp_path)
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


@pytest.mark.slow
def test_exp_show_fits_120_columns_after_the_readmes_steps(small_demo_run, tmp_path):
    """README: `make demo`, commit, one experiment, then `dvc exp show --only-changed`."""
    repo = _after_make_demo(small_demo_run, tmp_path)
    run(["clipfair", "record-run", "--preset", "demo"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "demo run"], repo)
    run(["dvc", "exp", "run", "-S", "preset=demo", "-S", "probe.c_min=0.00001",
         "-S", "probe.c_max=0.0001"], repo, timeout=900)  # fmt: skip
    # `dvc exp show --only-changed` in a 120-column terminal: the experiment, the changed
    # params (the preset too: the commit's params.yaml says real) and headline numbers, whole
    env = {**os.environ, "COLUMNS": "120"}
    table = subprocess.run(["dvc", "exp", "show", "--only-changed", "--no-pager"], cwd=repo,
                           env=env, capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert max(len(line) for line in table.splitlines()) <= 120, table
    assert "…" not in table, table
    before = json.loads(run(["git", "show", "HEAD:metrics/headline.json"], repo).stdout)
    after = json.loads((repo / "metrics/headline.json").read_text())
    changed = [k for k in after if after[k] != before.get(k)]
    assert changed and "gender" not in changed, (before, after)  # zero-shot did not move
    for column in ("Experiment", "preset", "probe.c_min", "probe.c_max", *changed):
        assert re.search(rf"(^|\s){re.escape(column)}(\s|$)", table, re.M), (column, table)
    assert not re.search(r"(^|\s)gender(\s|$)", table, re.M), table  # unchanged: left out


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _metric(summary: dict, method: str) -> float:
    return summary["tiny-vit"]["demo_full"][method]["accuracy"]


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

    # dvc exp show: the headline metric only (the reference cells' few numbers); the small
    # demo's gender reference is zero-shot, which the probe's C does not move
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    values = {}
    for commit in shown:
        for entry in [commit, *(e for exp in commit.get("experiments") or [] for e in exp["revs"])]:
            data = entry.get("data") or {}
            metrics = data.get("metrics", {})
            assert set(metrics) <= {"metrics/headline.json"}, set(metrics)
            if metrics:
                head = metrics["metrics/headline.json"]["data"]
                values[data.get("name") or entry.get("name") or entry["rev"]] = head
    assert len(values) >= 2 and all(len(v) <= 7 for v in values.values()), values
    assert len({v["gender"] for v in values.values()}) == 1, values
    assert len({v["age"] for v in values.values()}) == 2, values
    # the same numbers per model, by target
    by_model = json.loads((repo / "metrics/headline_by_model.json").read_text())
    assert by_model["tiny-vit"]["demo_full"] == values["workspace"], (by_model, values)

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


def _recorded(repo):
    """The repo with a recorded run committed (the repro test's, or a repro now)."""
    if not (repo / "dvc.lock").is_file():
        run(["dvc", "repro"], repo, timeout=1500)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "a recorded run"], repo, check=False)  # nothing new: fine
    return repo


def _experiment(repo, name, *sets):
    """The experiment ``name`` of the repo's current commit, run once (later tests reuse it)."""
    listed = run(["dvc", "exp", "list", "--all-commits", "--name-only"], repo).stdout.split()
    if name not in listed:
        run(["dvc", "exp", "run", "-n", name, *(a for s in sets for a in ("-S", s))], repo,
            timeout=1500)  # fmt: skip
        run(["git", "checkout", "--", "."], repo)  # back to the committed params and lock
        run(["dvc", "checkout"], repo)


@pytest.mark.slow
def test_clipfair_diff_tells_real_differences_between_revisions(dvc_repo):
    import pandas as pd

    repo = _recorded(dvc_repo)
    # two revisions that differ only in the probe's C range
    _experiment(repo, "strong-reg", "probe.c_min=0.00001", "probe.c_max=0.0001", "probe.n_c=2")
    out = run(["clipfair", "diff", "HEAD", "strong-reg", "--out", "d.csv"], repo).stdout
    assert "HEAD -> strong-reg" in out and "Holm" in out
    table = pd.read_csv(repo / "d.csv")
    probes = table[table["method"].str.startswith("probe_")]
    assert len(probes) == 2 and (probes["difference"] != 0).all()
    zero_shot = table[table["method"].str.startswith("zs_")]
    assert len(zero_shot) > 0 and (zero_shot["difference"] == 0).all()
    assert (zero_shot["differs"] == "no").all()
    assert list(table["difference"].abs()) == sorted(table["difference"].abs(), reverse=True)
    excludes = (table["ci_low"] > 0) | (table["ci_high"] < 0)
    assert not (excludes & (table["differs"] == "no")).any()
    # a revision that lacks a cell lists it apart
    _experiment(repo, "no-ft", "presets.demo.grid.methods=[probe_gender,probe_age]")
    out = run(["clipfair", "diff", "HEAD", "no-ft", "--out", "d2.csv"], repo).stdout
    assert "only in HEAD (1): tiny-vit/demo_full/ft_gender" in out
    assert "ft_gender" not in set(pd.read_csv(repo / "d2.csv")["method"])
    # a prediction file DVC's cache lacks is named, with the command that restores it
    from dvc.fs import DVCFileSystem

    from clipfair.revisions import resolve

    path = "data/predictions/fairface_demo/tiny-vit/demo_full/probe_gender.parquet"
    md5 = DVCFileSystem(url=str(repo), rev=resolve("strong-reg", repo)).info(path)["md5"]
    cached = repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    cached.rename(repo / "aside")
    try:
        proc = run(["clipfair", "diff", "HEAD", "strong-reg"], repo, check=False)
    finally:
        (repo / "aside").rename(cached)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{path} at strong-reg is not in the DVC cache" in proc.stderr
    assert "dvc exp pull <git remote> strong-reg" in proc.stderr


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
    # one drawn chart per plot (the confusion matrices as SVG, whose labels a test can read)
    assert shown.dom.count('class="marks"') == n_plots
    assert shot.stat().st_size > 50_000  # a picture of the charts, not a blank page
    # the same plots through DVC's default page: nothing draws offline
    default = repo / "default_template.html"
    default.write_text(dvc_render.html.PAGE_HTML)
    run(["dvc", "plots", "show", "--out", "cdn", "--html-template", str(default)], repo)
    broken = open_offline(repo / "cdn" / "index.html")
    assert broken.dom.count("<canvas") == 0
    assert any("vegaEmbed is not defined" in e for e in broken.errors)


def _specs(page):
    """The vega-lite specs of a `dvc plots` page by element id (``var spec = {...}`` before
    each ``vegaEmbed('#<id>', spec)``)."""
    text = page.read_text()
    decoder, out = json.JSONDecoder(), {}
    for m in re.finditer(r'<div id = "([^"]+)">\s*<script[^>]*>\s*var spec = ', text):
        out[m.group(1)] = decoder.raw_decode(text, m.end())[0]
    return out


@pytest.mark.slow
def test_dvc_plots_diff_draws_both_revisions_offline(dvc_repo):
    """`dvc plots diff A B` with the project's templates: every plot, opened offline in
    headless Chromium, draws; its data holds both revisions; a screenshot per plot is kept;
    the age confusion lists ages in their order."""
    import yaml

    from clipfair.labels import AGES

    from .browser import ARTIFACTS, open_offline

    _chromium()
    repo = _recorded(dvc_repo)
    _experiment(repo, "strong-reg", "probe.c_min=0.00001", "probe.c_max=0.0001", "probe.n_c=2")
    plots = [next(iter(p)) for p in yaml.safe_load((repo / "dvc.yaml").read_text())["plots"]]
    for target in plots:
        name = Path(target).stem
        out = repo / "plots_diff" / name
        out.parent.mkdir(exist_ok=True)
        run(["dvc", "plots", "diff", "HEAD", "strong-reg", "--targets", target, "--out",
             str(out)], repo)  # fmt: skip
        page = out / "index.html"
        specs = _specs(page)  # dvc.yaml's plot (our template), and the file as a plain target
        (spec,) = (v for k, v in specs.items() if k.startswith("dvc_yaml__"))
        values = (spec.get("data") or {}).get("values") or []
        revs = {row.get("rev") for row in values}
        if values:  # the small demo has no race reference: empty panels
            assert {"HEAD", "strong-reg"} <= revs, (name, revs)
        shot = ARTIFACTS / f"plots_diff_{name}.png"
        shown = open_offline(page, screenshot=shot)
        assert shown.errors == [], (name, shown.errors)
        assert shown.dom.count('class="marks"') == len(specs), name
        assert shot.stat().st_size > 5_000, name
        if name == "confusion_age":  # drawn as SVG: its axis labels are in the DOM
            labels = re.findall(r"<text[^>]*>([^<]+)</text>", shown.dom)
            ages = [label for label in labels if label in AGES]
            seen = list(dict.fromkeys(ages))
            assert len(seen) >= 3 and seen == [a for a in AGES if a in seen], seen


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


def test_dvc_yaml_is_in_step_with_params_and_the_rules(small_demo_run):
    """dvc.yaml's pipeline stage lists every section of params.yaml as a param, and every
    file a run writes under metrics/ and every folder under data/ as an out, a metric or a
    plot: nothing the rules add goes unseen by DVC, nothing DVC lists is a stale name."""
    import yaml

    from .conftest import ROOT

    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    stage = dvc["stages"]["pipeline"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert sorted(stage["params"]) == sorted(params), "dvc.yaml params != params.yaml sections"
    declared = {next(iter(o)) if isinstance(o, dict) else o for o in stage["outs"]}
    declared |= {next(iter(m)) if isinstance(m, dict) else m for m in stage["metrics"]}
    plots = {next(iter(p)) for p in dvc["plots"]}
    tracked = set(run(["git", "ls-files", "metrics"], ROOT).stdout.split())  # not run outputs
    written = {
        p.relative_to(small_demo_run).as_posix()
        for p in (small_demo_run / "metrics").rglob("*")
        if p.is_file()
    } - tracked
    uncovered = {
        f for f in written
        if f not in declared and not any(f.startswith(d.rstrip("/") + "/") for d in declared)
    }  # fmt: skip
    assert not uncovered, uncovered
    for path in declared - {".snakemake/metadata"}:
        if path.startswith("metrics/"):  # every metrics out is written by the run
            assert (small_demo_run / path).exists(), path
    data_dirs = {f"data/{p.name}" for p in (small_demo_run / "data").iterdir() if p.is_dir()}
    assert data_dirs <= declared, data_dirs - declared
    plot_files = {f for f in written if f.startswith("metrics/plots/") and f.endswith(".csv")}
    assert plots == plot_files, plots ^ plot_files
