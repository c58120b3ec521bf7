"""``clipfair diff A B``: cell by cell, is B's accuracy different from A's on the same images?

For every cell both revisions ran (their ``summary.csv``), the two revisions' saved per-image
predictions are read (:mod:`clipfair.revisions`; nothing is recomputed) and compared as
``comparison.csv`` compares a cell with its reference: the difference B - A with a paired
bootstrap interval simultaneous over the table's rows, McNemar's p (the clustered test where
images come in subjects), Holm-adjusted across the rows, and the same verdict
(:data:`clipfair.metrics.bootstrap.VERDICT_RULE`). Cells one revision lacks, or that the two
predicted on different images, are listed apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clipfair.metrics.bootstrap import (
    VERDICT_RULE,
    paired_comparison,
    resample_weights,
    subject_codes,
    verdicts,
)
from clipfair.revisions import Revision

KEY = ["backbone", "datasource", "method"]
COLUMNS = [*KEY, "task", "eval_data", "n", "unit", "accuracy_a", "accuracy_b", "difference",
           "ci_low", "ci_high", "mcnemar_p", "mcnemar_p_holm", "differs"]  # fmt: skip


def cells_of(rev: Revision, metrics: str = "metrics") -> pd.DataFrame:
    """The cells a revision ran: its ``summary.csv``'s coordinates, task and eval data."""
    table = rev.read_csv(f"{metrics}/summary.csv")
    return table[[*KEY, "task", "eval_data"]].astype(str)


def _correct(pred: pd.DataFrame) -> np.ndarray:
    return (pred["true"].astype(str) == pred["pred"].astype(str)).to_numpy(np.float32)


def diff_runs(
    a: Revision,
    b: Revision,
    data: str = "data",
    metrics: str = "metrics",
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """``table`` (one row per cell of both, largest effect first), ``only_a``, ``only_b``
    (cells one side lacks) and ``not_paired`` (cells predicted on different images)."""
    cells_a, cells_b = cells_of(a, metrics), cells_of(b, metrics)
    both = cells_a.merge(cells_b, on=[*KEY, "task", "eval_data"], how="outer", indicator=True)
    rows, replicates, pairs, units, not_paired = [], [], [], [], []
    # per set of images: its subjects and one resampling, shared by its cells
    resampling: dict[str, tuple[np.ndarray | None, np.ndarray]] = {}
    for cell in both[both["_merge"] == "both"].itertuples():
        parts = (data, "predictions", cell.eval_data, cell.backbone, cell.datasource)
        path = "/".join((*parts, f"{cell.method}.parquet"))
        pred_a, pred_b = a.read_parquet(path), b.read_parquet(path)
        if not pred_a["file"].equals(pred_b["file"]):
            not_paired.append("/".join(getattr(cell, k) for k in KEY))
            continue
        if cell.eval_data not in resampling:
            clusters = subject_codes(pred_a)
            w = resample_weights(len(pred_a), n_resamples, seed, clusters)
            resampling[cell.eval_data] = (clusters, w)
        clusters, w = resampling[cell.eval_data]
        correct_a, correct_b = _correct(pred_a), _correct(pred_b)
        result = paired_comparison(correct_b, correct_a, n_resamples, seed, alpha, w, clusters)
        replicates.append(result["replicates"])
        pairs.append((correct_b, correct_a, clusters))
        units.append(result["n_units"])
        row = {k: getattr(cell, k) for k in (*KEY, "task", "eval_data")}
        row.update(n=result["n"], unit=result["unit"], accuracy_a=float(correct_a.mean()),
                   accuracy_b=float(correct_b.mean()), difference=result["difference"],
                   mcnemar_p=result["mcnemar_p"])  # fmt: skip
        rows.append(row)
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c in (rows[0] if rows else {})])
    if rows:
        adjusted = verdicts(
            table["difference"].to_numpy(), np.stack(replicates, axis=1),
            table["mcnemar_p"].to_numpy(), alpha, np.array(units), pairs,
        )  # fmt: skip
        table["ci_low"], table["ci_high"] = adjusted["ci_low"], adjusted["ci_high"]
        table["mcnemar_p_holm"], table["differs"] = adjusted["p_holm"], adjusted["verdict"]
        table = table.iloc[(-table["difference"].abs()).argsort(kind="stable")]
    one_side = {
        side: sorted("/".join(r) for r in both.loc[both["_merge"] == flag, KEY].to_numpy())
        for side, flag in (("only_a", "left_only"), ("only_b", "right_only"))
    }
    return {"table": table.reindex(columns=COLUMNS).reset_index(drop=True), **one_side,
            "not_paired": not_paired}  # fmt: skip


def render_diff(result: dict[str, Any], a: str, b: str, alpha: float = 0.05) -> None:
    """Console table of :func:`diff_runs`, then the cells on one side only."""
    from rich.console import Console
    from rich.table import Table

    table = result["table"]
    m = len(table)
    caption = (
        f"{m} cells; diff = {b} - {a}; CI: {1 - alpha:.0%} simultaneous over the {m} rows "
        f"(paired bootstrap, max-t, with Bonett-Price); p: McNemar, Holm over the {m} rows; "
        f"{VERDICT_RULE}"
    )
    out = Table(title=f"{a} -> {b}", caption=caption, caption_justify="left")
    for col in ("cell", "task", "data", a, b, "diff", "CI (simult.)", "p Holm", "differs"):
        left = col in ("cell", "task", "data", "differs")
        out.add_column(col, justify="left" if left else "right")
    for row in table.itertuples():
        out.add_row(f"{row.backbone}/{row.datasource}/{row.method}", row.task, row.eval_data,
                    f"{row.accuracy_a:.4f}", f"{row.accuracy_b:.4f}", f"{row.difference:+.4f}",
                    f"[{row.ci_low:+.4f}, {row.ci_high:+.4f}]", f"{row.mcnemar_p_holm:.2g}",
                    row.differs)  # fmt: skip
    console = Console(width=160)
    console.print(out)
    for side, rev in (("only_a", a), ("only_b", b)):
        if result[side]:
            console.print(f"only in {rev} ({len(result[side])}): {', '.join(result[side])}")
    if result["not_paired"]:
        console.print(f"predicted on different images: {', '.join(result['not_paired'])}")
