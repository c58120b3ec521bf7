"""`clipfair bench coverage`: the intervals cover their population values at >= 0.93."""

import subprocess

import pandas as pd
import pytest

from clipfair.bench.coverage import POPULATION, STATISTICS, population_from

from .conftest import ROOT


def _bench(*args):
    return subprocess.run(
        ["clipfair", "bench", "coverage", *args], cwd=ROOT, capture_output=True, text=True
    )


@pytest.mark.slow
def test_every_interval_covers_at_least_093_of_300_draws(tmp_path):
    proc = _bench("--draws", "300", "--out", str(tmp_path / "coverage.csv"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = pd.read_csv(tmp_path / "coverage.csv")
    # both demo populations (FairFace images; Adience faces resampled by user), every statistic
    assert list(table["unit"].unique()) == ["image", "subject"]
    assert set(table["statistic"]) == set(STATISTICS) and len(table) == 2 * len(STATISTICS)
    assert (table["coverage"] >= 0.93).all(), table
    assert (table["nominal"] == 0.95).all()


def test_the_check_fails_when_the_intervals_are_too_narrow(tmp_path):
    # alpha 0.4: 60% intervals cannot cover 93% of the time, and the command says so
    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text().replace("alpha: 0.05", "alpha: 0.4"))
    proc = _bench("--draws", "40", "--params", str(params))
    assert proc.returncode == 1
    assert "coverage below 0.93 for" in proc.stderr
    assert "< 0.93" in proc.stdout


def test_a_pair_of_other_images_is_refused(tmp_path):
    pop = pd.read_parquet(POPULATION)
    a = pop[pop["population"] == pop["population"].iloc[0]].rename(columns={"pred_a": "pred"})
    with pytest.raises(ValueError, match="x: the two prediction tables are not of the same"):
        population_from(a, a.iloc[::-1].reset_index(drop=True), "x")
