"""`adstage tables`: every pipeline table with its Delta version, rows and latest logical date.

Reads the Delta logs with delta-rs (`deltalake`), so it needs no JVM and answers in a second;
this is also how a creative team loads a table into pandas (see `read_table`).
"""
from __future__ import annotations

from typing import Any

from adstage.config import Settings
from adstage.tables import table_names


def read_table(settings: Settings, name: str, columns: list[str] | None = None,
               ds: str | None = None, filters: list[tuple] | None = None):
    """A Delta table as a pandas DataFrame, from the files Spark wrote, without Spark;
    only the partition of logical date `ds` when given, only the rows matching `filters`
    (delta-rs' ``[("product_id", "=", "p1")]``) when given."""
    from deltalake import DeltaTable

    partitions = [("ds", "=", ds)] if ds else None
    return DeltaTable(settings.table_uri(name)).to_pandas(columns=columns, partitions=partitions,
                                                          filters=filters)


def describe(settings: Settings) -> list[dict[str, Any]]:
    import pyarrow.compute as pc
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    out = []
    for name in table_names():
        uri = settings.table_uri(name)
        try:
            table = DeltaTable(uri)
        except TableNotFoundError:
            out.append({"table": name, "version": None, "rows": None, "latest_ds": None,
                        "uri": uri})
            continue
        dataset = table.to_pyarrow_dataset()
        latest = None
        if "ds" in dataset.schema.names:
            latest = pc.max(dataset.to_table(columns=["ds"])["ds"]).as_py()
        out.append({"table": name, "version": table.version(), "rows": dataset.count_rows(),
                    "latest_ds": latest.isoformat() if latest else None, "uri": uri})
    return out


def format_tables(rows: list[dict[str, Any]]) -> str:
    header = ("table", "version", "rows", "latest_ds", "uri")
    cells = [[("-" if r[h] is None else str(r[h])) for h in header] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def staging_summary(settings: Settings, ds: str | None = None) -> str:
    """What a creative or an on-call engineer wants after a night: images per method, why the
    others have none, the quality figures per method (with their extractor), a clip, the page."""
    import pandas as pd

    from deltalake.exceptions import TableNotFoundError

    try:
        staged = read_table(settings, "staged_images")
    except TableNotFoundError:
        staged = pd.DataFrame()
    if staged.empty:
        return "no staged images yet"
    ds = ds or str(max(staged["ds"]))
    staged = staged[staged["ds"].astype(str) == ds]
    lines = [f"staging of {ds}", "", "staged images per method:"]
    for method, n in staged.groupby("method").size().items():
        lines.append(f"  {method:<12} {n}")
    rejects = read_table(settings, "staging_rejects", ds=ds)
    if not rejects.empty:
        lines += ["", "no image (staging_rejects), per method and reason:"]
        for (method, reason), n in rejects.groupby(["method", "reason"]).size().items():
            lines.append(f"  {method:<12} {reason:<22} {n}")
    metrics = read_table(settings, "staging_metrics", ds=ds)
    if not metrics.empty:
        cols = ["method", "extractor", "n_images", "n_real", "fd", "kid", "seam_accuracy",
                "seam_kid", "object_expansion", "preservation_max"]
        with pd.option_context("display.width", 200, "display.precision", 4):
            lines += ["", "staging_metrics (seam_accuracy 0.5 = seams look like real edges):",
                      metrics[cols].sort_values("method").to_string(index=False)]
    clips = read_table(settings, "animations", ds=ds)
    if not clips.empty:
        lines += ["", f"parallax clips: {len(clips)}, e.g. {clips.iloc[0]['mp4_uri']}"]
    page = settings.gallery_path / ds / "index.html"
    lines += ["", f"gallery: {page}" + ("" if page.exists() else " (not written yet)")]
    return "\n".join(lines)
