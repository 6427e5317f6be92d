"""One product's night, table by table: ``adstage why PRODUCT_ID [--ds D]``.

A data engineer asked "why has this product no staged image?" (or "which room did it land in?")
otherwise reads eight tables and joins them by hand. This prints, for one product and one
logical date, each stage's verdict in the order the night makes them: its images and their
labels, its cutouts, the donors pairing found, the fit of each donor judged before the slot
quota, what each staging method made or why not, and its clips. Read with delta-rs, no Spark;
only the rows of that product are loaded (the tables' ``product_id`` filter).

Vision tables (labels, cutouts) are written only when an image changes, so their state as of a
date is each image's latest row on or before it; the night's tables are read at the date.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from adstage.config import Settings

if TYPE_CHECKING:
    import pandas as pd

# The tables whose rows say what a night did with a product; the default date is its latest.
NIGHT = ("staged_images", "staging_rejects", "donor_pairs", "pairing_rejects")


def _rows(settings: Settings, table: str, product_id: str, ds: str | None = None
          ) -> "pd.DataFrame":
    """``table``'s rows of the product (of date ``ds`` when given); empty when the table does
    not exist yet."""
    import pandas as pd
    from deltalake.exceptions import TableNotFoundError

    from adstage.report import read_table

    try:
        return read_table(settings, table, ds=ds, filters=[("product_id", "=", product_id)])
    except TableNotFoundError:
        return pd.DataFrame()


def _as_of(df: "pd.DataFrame", ds: str, key: str) -> "pd.DataFrame":
    """Each ``key``'s latest row on or before ``ds``."""
    import pandas as pd

    if df.empty:
        return df
    df = df[pd.to_datetime(df["ds"]) <= pd.Timestamp(ds)]
    return df.sort_values("ds").groupby(key, as_index=False).tail(1)


def _latest_ds(settings: Settings, product_id: str) -> str | None:
    dates = [d for t in NIGHT for d in _rows(settings, t, product_id).get("ds", [])]
    return str(max(dates)) if dates else None


def _missing(v) -> bool:
    import pandas as pd

    return v is None or bool(pd.isna(v))


def _refusal(reason, detail) -> str:
    return str(reason) if _missing(detail) or not detail else f"{reason}: {detail}"


def product_trace(settings: Settings, product_id: str, ds: str | None = None) -> str:
    """The lines ``adstage why`` prints (see the module docstring)."""
    images = _rows(settings, "catalog_images", product_id)
    if images.empty:
        refused = _rows(settings, "ingest_rejects", product_id)
        if refused.empty:
            return f"product {product_id}: not in the catalog and never refused by ingest"
        last = refused.sort_values("ds").iloc[-1]
        return (f"product {product_id}: not in the catalog; ingest refused it on {last['ds']} "
                f"({_refusal(last['reason'], last['detail'])})")
    ds = ds or _latest_ds(settings, product_id)
    category = images["category"].iloc[0]
    out = [f"product {product_id} ({category}), night of {ds or '(no night has seen it yet)'}"]
    roles = images.groupby("image_role").size().to_dict()
    out.append("  images     " + ", ".join(f"{n} {r}" for r, n in sorted(roles.items())))
    if ds is None:
        return "\n".join(out)
    role = dict(zip(images["image_id"], images["image_role"]))
    for _, r in _as_of(_rows(settings, "image_labels", product_id), ds, "image_id").iterrows():
        verdict = r["label"] if _missing(r["reason"]) else _refusal(r["reason"], r["detail"])
        out.append(f"  label      {role.get(r['image_id'], '?')} {r['image_id'][:12]}: "
                   f"{verdict}")
    for _, r in _as_of(_rows(settings, "product_cutouts", product_id), ds, "image_id").iterrows():
        verdict = ("ok" if r["ok"] else _refusal(r["reason"], r["detail"]))
        out.append(f"  cutout     {r['image_id'][:12]}: {verdict}")
    out += _pairing(settings, product_id, ds)
    out += _staging(settings, product_id, ds)
    for _, r in _rows(settings, "animations", product_id, ds).iterrows():
        out.append(f"  clip       {r['method']}: {r['mp4_uri']} ({r['frames']} frames)")
    return "\n".join(out)


def _pairing(settings: Settings, product_id: str, ds: str) -> list[str]:
    pairs = _rows(settings, "donor_pairs", product_id, ds)
    if pairs.empty:
        rej = _rows(settings, "pairing_rejects", product_id, ds)
        return [f"  pairing    {_refusal(r['reason'], r['detail'])}" for _, r in rej.iterrows()
                ] or ["  pairing    no row for this date"]
    fit = _rows(settings, "donor_fit", product_id, ds)
    verdict = dict(zip(fit.get("slot_id", []), fit.get("fit_refusal", [])))
    out = []
    for _, r in pairs.sort_values("rank").iterrows():
        judged = verdict.get(r["slot_id"])
        fits = "not judged" if judged is None else "fits" if judged == "" else judged
        out.append(f"  donor #{int(r['rank']):<3} slot {r['slot_id']} ({r['donor_category']}, "
                   f"{r['match']}, score {r['score']:.2f}): {fits}")
    return out


def _staging(settings: Settings, product_id: str, ds: str) -> list[str]:
    out = []
    for _, r in _rows(settings, "staged_images", product_id, ds).sort_values("method").iterrows():
        where = (f"on slot {r['slot_id']} (donor #{int(r['donor_rank'])}, "
                 f"attempt {int(r['attempts'])}, "
                 f"gap {r['gap_share']:.2f}, size ratio {r['size_ratio']:.2f}) "
                 if not _missing(r["slot_id"]) else "")
        out.append(f"  staged     {r['method']} {where}-> {r['output_uri']}")
    for _, r in _rows(settings, "staging_rejects", product_id, ds).sort_values("method"
                                                                               ).iterrows():
        out.append(f"  refused    {r['method']}: {_refusal(r['reason'], r['detail'])}")
    return out or ["  staging    no row for this date"]
