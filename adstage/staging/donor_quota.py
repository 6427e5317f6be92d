"""Slot quota: no donor slot stages more than a set share of the night's paired products.

Pairing ranks each product's donors on its own, so products of nearly one shape all put the
same few slots first: on the IKEA catalog one chair slot held 12 % of the copy-paste images, and
an ad team saw the same room again and again. Before staging, the date's pairs are assigned
under a capacity per slot:

* capacity ``C = max(ceil(share * N), ceil(n / k))``: ``N`` products paired on the date, ``n``
  of them in this slot category, ``k`` distinct slots among their candidates. The second term
  keeps the quota from refusing products that an even spread over the category's slots could
  not place anyway (5 sofa slots for 40 sofas hold 8 each, whatever the share says).
* products in order of their best score (then product id): each takes its best-ranked donor
  that still has room. Better matches choose first; a product whose every candidate is full
  is refused (``no_free_slot``), never pasted onto a full slot.
* a product's donor list becomes: its assigned slot, then its other candidates that still
  have room once every product has chosen, in pairing rank order (staging falls back to them
  when the assigned donor fails the fit, gap or size check). A fallback reserves its place,
  better scores first: a slot is listed by at most ``C`` products in all, so it cannot hold
  more than ``C`` images even if every assigned donor failed (staging runs in parallel and
  cannot count uses as it goes).

The assignment depends on the whole date's pairs: a new product that suits a full slot better
than one staged there takes its place, and the displaced product is staged again on its next
slot (the donor list is in the staging fingerprint). Plain pandas; the Spark job runs it once per
slot category (``apply``).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# The column the assignment adds: the order staging tries donors in (1 = assigned).
ORDER = "order"


def capacity(share: float, n_products: int, n_group: int, n_slots: int) -> int:
    """Images one slot may hold in a group of ``n_group`` products over ``n_slots`` slots."""
    if n_group == 0:
        return 0
    even = math.ceil(n_group / max(n_slots, 1))
    return max(math.ceil(share * n_products), even, 1)


def assign(pairs: pd.DataFrame, share: float, n_products: int) -> pd.DataFrame:
    """One slot category's pairs under the quota.

    :param pairs: rows with ``product_id``, ``slot_id``, ``rank`` (pairing's, 1 = best) and
        ``score``; any other column is kept.
    :param share: a slot holds at most this share of ``n_products`` (the date's paired
        products, all categories); ``<= 0`` = no quota (pairing order kept).
    :returns: the kept rows with ``order`` (1 = the assigned donor, then the fallbacks); a
        product every one of whose candidates is full keeps a single row with ``slot_id``
        None and ``order`` 0.
    """
    df = pairs.sort_values(["product_id", "rank"], kind="stable").reset_index(drop=True)
    if share <= 0 or df.empty:
        return df.assign(**{ORDER: df["rank"].astype("int64")})
    cap = capacity(share, n_products, df["product_id"].nunique(), df["slot_id"].nunique())
    firsts = df.groupby("product_id", sort=False)["score"].max()
    priority = sorted(firsts.index, key=lambda p: (-float(firsts[p]), str(p)))
    rows_of = df.groupby("product_id", sort=False).indices   # positions, in rank order
    slots = df["slot_id"].to_numpy(object)
    load: dict[str, int] = {}
    chosen: dict[str, int | None] = {}
    for p in priority:
        pick = next((i for i in rows_of[p] if load.get(slots[i], 0) < cap), None)
        chosen[p] = pick
        if pick is not None:
            load[slots[pick]] = load.get(slots[pick], 0) + 1
    # One take of the kept positions (no concat: arrow-backed string columns would come back
    # chunked, which Spark's Arrow writer refuses).
    take, order, refused = [], [], []
    for p in priority:
        pick = chosen[p]
        if pick is None:
            refused.append(len(take))
            take.append(rows_of[p][0])
            order.append(0)
            continue
        kept = [pick]
        for i in rows_of[p]:
            if i != pick and load.get(slots[i], 0) < cap:
                kept.append(i)
                load[slots[i]] = load.get(slots[i], 0) + 1   # reserved for this fallback
        take.extend(kept)
        order.extend(range(1, len(kept) + 1))
    out = df.iloc[take].reset_index(drop=True)
    out[ORDER] = np.asarray(order, np.int64)
    if refused:
        out.loc[refused, "slot_id"] = None
    return out


def apply(pairs: "DataFrame", share: float, group_col: str,
          n_products: int | None = None) -> "DataFrame":
    """``assign`` on a Spark frame of pairs, once per ``group_col`` value (a slot category:
    slots of different categories never compete). Adds ``order``; quota-refused products
    keep one row with a null ``slot_id``. ``n_products``: the date's paired products (the
    share's base), by default those of ``pairs``."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import IntegerType, StructField, StructType

    if n_products is None:
        n_products = pairs.select("product_id").distinct().count()
    # Nullable throughout: a quota-refused product's row has no slot.
    schema = StructType([StructField(f.name, f.dataType, True) for f in pairs.schema.fields]
                        + [StructField(ORDER, IntegerType(), True)])
    cols = [f.name for f in schema.fields]

    def run(g: pd.DataFrame) -> pd.DataFrame:
        return assign(g, share, n_products)[cols]

    return pairs.groupBy(F.col(group_col)).applyInPandas(run, schema)
