"""Real sizes (IKEA's ``size`` text) against the scale copy-paste placement chose (issue 17).

    PYTHONPATH=. .venv/bin/python research/ikea_real_size.py --home /tmp/adstage-ikea \\
        --out /tmp/ikea-real-size.json

Reads a finished IKEA night (``research/ikea_catalog_run.py``'s Delta tables) and the research
set's ``products.jsonl`` / ``rooms.jsonl``. For every copy-paste image: the product's real size
(parsed from its ``size`` text), the donor slot's real size where the donor room lists exactly
one product of the slot's category (``category_of`` -> ``product_slot_category``) and that one
has a size, and the scale placement used (placed product box / slot box, in the dimension both
real sizes share: height when both have one, else width). Then: how often the real-size ratio
agrees with the placed ratio (within +-20 %), their distributions, and what the rule "placed
ratio within [1/1.5, 1.5] x the real-size ratio" would refuse or rescale, under three readings
of the real ratio: ``point`` (smallest widths, both pieces facing the camera), ``span`` (an
extendable table's settings as a range) and ``either_facing`` (the depth ratio joins: pieces
seen end-on). No pixel is read (the boxes come from the tables); numbers and ids only go to
``--out`` and stdout. Results: docs/real-size-ratio.md.
"""
from __future__ import annotations

import argparse
import json
import math
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

# UK "Standard" bed sizes as IKEA UK sells them (mattress width x length, cm).
_UK_BEDS = {"single": (90.0, 190.0), "small double": (120.0, 190.0), "double": (135.0, 190.0),
            "king": (150.0, 200.0), "super king": (180.0, 200.0)}
_UNITS = {"mm": 0.1, "cm": 1.0, "m": 100.0}
_NUM = r"\d+(?:[.,]\d+)?"
# Labelled form: "Width: 80 cm, Depth: 72 cm, Height: 74 cm" (also Length, Diameter, "Seat
# height" is left out: it is not the piece's height).
_LABELLED = re.compile(r"(?P<label>(?:seat\s+)?(?:width|depth|height|length|diameter))\s*:?\s*"
                       rf"(?P<num>{_NUM})\s*(?P<unit>mm|cm|m)\b", re.I)
# Words of a type whose single size number is a height (a bar stool's "74 cm") or a diameter
# (a round "Coffee table" of "75 cm", a "Wall clock" of "35 cm").
_HEIGHT_WORDS = ("stool", "chair", "lamp")
_DIAMETER_WORDS = ("table", "clock", "pot", "mirror")


@dataclass(frozen=True)
class RealSize:
    """A piece's real size in cm; None where the text does not say."""

    width: float | None = None
    depth: float | None = None
    height: float | None = None
    width_max: float | None = None   # an extendable table's longest setting ("140,180,220x84")


def _num(s: str) -> float:
    return float(s.replace(",", "."))


def parse_size(text: str | None, product_type: str = "") -> RealSize | None:
    """Parse IKEA's ``size`` text into a :class:`RealSize` in cm, or None when it holds no length.

    * ``"Width: 80 cm, Depth: 72 cm, Height: 74 cm"`` (any order; Length = width, Diameter =
      width and depth; "Seat height" is not the height);
    * ``"160x80x73 cm"`` -> width x depth x height;
    * ``"170x78 cm"`` -> width x depth (a table's top, a bed's mattress "90x200");
    * ``"140,180,220x84 cm"`` (extendable) -> the smallest width (``width_max`` the longest),
      x depth;
    * ``"74 cm"`` -> by the type: a height for stools and chairs ("Bar stool"), a diameter for
      tables and clocks ("Coffee table", "Wall clock"), else a width ("Wall shelf");
    * ``"Standard Double"`` -> the UK mattress size (135 x 190);
    * volumes, packs, age ranges and empty text -> None. mm and m are converted to cm.
    """
    t = " ".join((text or "").split())
    if not t:
        return None
    low = t.lower()
    if low.startswith("standard "):
        wd = _UK_BEDS.get(low[len("standard "):])
        return RealSize(width=wd[0], depth=wd[1]) if wd else None
    found = {}
    for m in _LABELLED.finditer(t):
        label = m["label"].lower()
        if label.startswith("seat"):
            continue
        v = _num(m["num"]) * _UNITS[m["unit"].lower()]
        if label == "diameter":
            found.setdefault("width", v)
            found.setdefault("depth", v)
        else:
            found["width" if label == "length" else label] = v
    if found:
        return RealSize(**found)
    m = re.fullmatch(rf"(?P<dims>{_NUM}(?:\s*[x,]\s*{_NUM})*)\s*(?P<unit>mm|cm|m)", t, re.I)
    if not m:
        return None
    k = _UNITS[m["unit"].lower()]
    groups = [g.strip() for g in re.split(r"\s*x\s*", m["dims"], flags=re.I)]
    # "140,180,220x84": the alternatives of one dimension are joined by commas (a decimal comma
    # is a single comma between digits with no more than 2 after it: "0,5"; IKEA sizes here
    # are whole cm, so a comma inside an x-separated group is read as alternatives).
    dims, wmax = [], None
    for i, g in enumerate(groups):
        alts = [_num(a) for a in g.split(",")] if ("," in g and (len(groups) > 1 or g.count(",") > 1)) else [_num(g)]
        dims.append(min(alts) * k)
        if i == 0 and len(alts) > 1:
            wmax = max(alts) * k
    if len(dims) >= 3:
        return RealSize(width=dims[0], depth=dims[1], height=dims[2], width_max=wmax)
    if len(dims) == 2:
        return RealSize(width=dims[0], depth=dims[1], width_max=wmax)
    ty = (product_type or "").lower()
    v = dims[0]
    if any(w in ty for w in _HEIGHT_WORDS) and "table" not in ty:
        return RealSize(height=v)
    if "clock" in ty:
        return RealSize(width=v, height=v)
    if any(w in ty for w in _DIAMETER_WORDS):
        return RealSize(width=v, depth=v)
    return RealSize(width=v)


def shared_dimension(a: RealSize | None, b: RealSize | None) -> str | None:
    """The dimension both sizes give, height first (placement scales height or width)."""
    if a is None or b is None:
        return None
    for dim in ("height", "width"):
        if getattr(a, dim) and getattr(b, dim):
            return dim
    return None


def ratio_interval(a: RealSize, b: RealSize, dim: str, either_facing: bool = False
                   ) -> tuple[float, float]:
    """The real-size ratio ``a / b`` in ``dim`` as an interval: an extendable table's settings
    span one; with ``either_facing`` (a piece seen end-on: a bed from its side, a desk from its
    end) the depth ratio joins the width ratio, both pieces turned the same way."""
    if dim == "height":
        r = a.height / b.height
        return r, r
    ra = [a.width] + ([a.width_max] if a.width_max else [])
    rb = [b.width] + ([b.width_max] if b.width_max else [])
    rs = [x / y for x in ra for y in rb]
    if either_facing and a.depth and b.depth:
        rs.append(a.depth / b.depth)
    return min(rs), max(rs)


def mismatch(placed_ratio: float, lo: float, hi: float) -> float:
    """placed / real-size ratio, 1 inside ``[lo, hi]``, else against the nearer end."""
    return placed_ratio / hi if placed_ratio > hi else (placed_ratio / lo if placed_ratio < lo else 1.0)


def rule_outcome(placed_ratio: float, real_ratio: float, size_ratio: float,
                 max_mismatch: float = 1.5, max_size_ratio: float = 2.0) -> tuple[str, float]:
    """What "placed within [1/m, m] x the real ratio" does to one image: ``("keep", 1)``, or
    ``("rescale", k)`` with k the linear factor that brings it to the nearest band edge, or
    ``("refuse", k)`` when that rescale breaks the pipeline's area limit (``size_ratio * k^2``
    outside [1/max_size_ratio, max_size_ratio]) — or when the rescaled product would need to be
    larger than the frame, which is not checked here."""
    mismatch = placed_ratio / real_ratio
    if 1.0 / max_mismatch <= mismatch <= max_mismatch:
        return "keep", 1.0
    k = (max_mismatch if mismatch > max_mismatch else 1.0 / max_mismatch) / mismatch
    area = size_ratio * k * k
    return ("rescale" if 1.0 / max_size_ratio <= area <= max_size_ratio else "refuse"), k


def _quantiles(xs: list[float]) -> dict:
    import numpy as np

    if not xs:
        return {"n": 0}
    a = np.asarray(xs, float)
    return {"n": len(xs), "median": round(float(np.median(a)), 3),
            "p10": round(float(np.percentile(a, 10)), 3),
            "p90": round(float(np.percentile(a, 90)), 3)}


def measure(home: Path, root: Path, band: float = 0.2, max_mismatch: float = 1.5) -> dict:
    from adstage.config import Settings
    from adstage.report import read_table
    from adstage.vision.donors import product_slot_category
    from adstage.vision.ikea import category_of

    products = {r["product_id"]: r for r in map(json.loads, (root / "products.jsonl").read_text().splitlines())}
    rooms = {str((root / r["image"]).resolve()): r
             for r in map(json.loads, (root / "rooms.jsonl").read_text().splitlines())}
    size_of = {pid: parse_size(r.get("size"), r.get("type", "")) for pid, r in products.items()}
    slot_cat_of = {pid: product_slot_category(category_of(r.get("type", "")))
                   for pid, r in products.items()}

    settings = Settings.load({"home": str(home)}, environ={})
    staged = read_table(settings, "staged_images")
    cp = staged[staged["method"] == "copy_paste"]
    slots = read_table(settings, "donor_slots").drop_duplicates("slot_id").set_index("slot_id")
    cat = read_table(settings, "catalog_images")
    source_of = dict(zip(cat["image_uri"], cat["source_uri"]))

    funnel = Counter()
    rows = []
    for r in cp.itertuples():
        funnel["copy_paste_images"] += 1
        ps = size_of.get(r.product_id)
        slot = slots.loc[r.slot_id]
        scat = slot["category"]
        room = rooms.get(str(Path(source_of.get(r.donor_image_uri, "")).resolve()))
        listed = [p for p in (room or {}).get("product_ids", []) if slot_cat_of.get(p) == scat]
        row = {"product_id": r.product_id, "product_type": products.get(r.product_id, {}).get("type"),
               "slot_id": r.slot_id, "slot_category": scat, "size_ratio": float(r.size_ratio),
               "product_size": asdict(ps) if ps else None, "room_listed_same_category": len(listed)}
        if ps is not None:
            funnel["product_has_size"] += 1
        if room is None:
            row["skip"] = "donor room not found"
        elif not listed:
            row["skip"] = "room lists no product of the slot's category"
        elif len(listed) > 1:
            row["skip"] = "room lists several products of the slot's category"
        else:
            funnel["donor_room_lists_exactly_one"] += 1
            dp = listed[0]
            ds_ = size_of.get(dp)
            row.update(donor_piece=dp, donor_type=products[dp].get("type"),
                       donor_size=asdict(ds_) if ds_ else None)
            if ds_ is not None:
                funnel["donor_piece_has_size"] += 1
            if ps is None or ds_ is None:
                row["skip"] = "no size for " + ("the product" if ps is None else "the donor piece")
            else:
                funnel["both_sizes"] += 1
                dim = shared_dimension(ps, ds_)
                if dim is None:
                    row["skip"] = "no shared dimension"
                else:
                    funnel["comparable"] += 1
                    x0, y0, x1, y1 = (int(v) for v in r.product_box)
                    s0, t0, s1, t1 = (int(v) for v in slot["box"])
                    placed = ((y1 - y0) / (t1 - t0)) if dim == "height" else ((x1 - x0) / (s1 - s0))
                    fit_by = "height" if abs((y1 - y0) - (t1 - t0)) <= 1 else (
                        "width" if abs((x1 - x0) - (s1 - s0)) <= 1 else "capped")
                    real = getattr(ps, dim) / getattr(ds_, dim)
                    row.update(dimension=dim, real_ratio=round(real, 4), placed_ratio=round(placed, 4),
                               fit_by=fit_by)
                    # Three readings of "the real ratio": the point (smallest widths, both
                    # facing the camera), extendable settings as a span, and either facing.
                    for name, (lo, hi) in (("point", (real, real)),
                                           ("span", ratio_interval(ps, ds_, dim)),
                                           ("either_facing", ratio_interval(ps, ds_, dim, True))):
                        mm = mismatch(placed, lo, hi)
                        outcome, k = rule_outcome(mm, 1.0, float(r.size_ratio), max_mismatch)
                        row[name] = {"lo": round(lo, 4), "hi": round(hi, 4), "mismatch": round(mm, 4),
                                     "agrees": bool(abs(mm - 1.0) <= band), "rule": outcome,
                                     "rescale": round(k, 4)}
        rows.append(row)

    comp = [x for x in rows if "real_ratio" in x]
    out = {
        "home": str(home), "band": band, "max_mismatch": max_mismatch,
        "funnel": dict(funnel),
        "skips": dict(Counter(x.get("skip") for x in rows if x.get("skip"))),
        "coverage": f"{len(comp)} / {len(rows)}",
        "comparable_by_slot_category": dict(Counter(x["slot_category"] for x in comp)),
        "comparable_by_dimension": dict(Counter(x["dimension"] for x in comp)),
        "fit_by": dict(Counter(x["fit_by"] for x in comp)),
        "distinct_donor_slots": len({x["slot_id"] for x in comp}),
        "pairs_by_donor_slot": dict(Counter(x["slot_id"] for x in comp).most_common()),
        "real_ratio": _quantiles([x["real_ratio"] for x in comp]),
        "placed_ratio": _quantiles([x["placed_ratio"] for x in comp]),
        "placed_linear_from_size_ratio": _quantiles([math.sqrt(x["size_ratio"]) for x in comp]),
        **{name: {"agree_within_band": sum(x[name]["agrees"] for x in comp),
                  "mismatch_placed_over_real": _quantiles([x[name]["mismatch"] for x in comp]),
                  "rule": dict(Counter(x[name]["rule"] for x in comp))}
           for name in ("point", "span", "either_facing")},
        "pairs": rows,
    }
    return out


def main(argv: list[str] | None = None) -> int:
    from adstage.vision import ikea

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--home", type=Path, default=Path("/tmp/adstage-ikea"),
                    help="adstage home of a finished IKEA night (default %(default)s)")
    ap.add_argument("--root", type=Path, default=ikea.DEFAULT_ROOT, help="the IKEA research set")
    ap.add_argument("--band", type=float, default=0.2, help="agreement band, +- share (0.2)")
    ap.add_argument("--max-mismatch", type=float, default=1.5,
                    help="the rule's limit on placed / real-size ratio, either way (1.5)")
    ap.add_argument("--out", type=Path, help="JSON with the summary and every pair (numbers, ids)")
    ap.add_argument("--show", action="store_true", help="print every comparable pair")
    a = ap.parse_args(argv)
    res = measure(a.home, a.root, a.band, a.max_mismatch)
    if a.out:
        a.out.write_text(json.dumps(res, indent=1))
    summary = {k: v for k, v in res.items() if k != "pairs"}
    print(json.dumps(summary, indent=1))
    if a.show:
        for x in res["pairs"]:
            if "real_ratio" in x:
                print(f"{x['product_id']} {x['product_type']!r:32} -> {x['donor_type']!r:28} "
                      f"{x['dimension']:6} real {x['real_ratio']:.2f} placed {x['placed_ratio']:.2f} "
                      f"area {x['size_ratio']:.2f} fit {x['fit_by']:6} "
                      + " ".join(f"{n}:{x[n]['rule']}" for n in ("point", "span", "either_facing")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
