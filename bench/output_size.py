"""What a night writes, in bytes per product: the image store, the review gallery and the
parallax clips, by kind, on a generated N-product demo catalog.

    PYTHONPATH=. .venv/bin/python bench/output_size.py --products 30 \\
        --work /tmp/adstage-bench/size-30 --out docs/bench/output-size-30 [--conf key=value ...]

Runs the whole night first (``bench/pipeline_throughput.py``: every job its own process, in the
DAG's order; its timing lands in ``<work>/throughput.md``), with each ``--conf`` passed to every
job as ``ADSTAGE_<KEY>`` (e.g. ``--conf gallery_assets=copy --conf parallax_formats=mp4,webm,gif``
for the outputs of before issue 18 item 12). ``--measure-only`` measures a night already in
``--work`` (or, with ``--home``, any adstage home: a real night's warehouse and gallery).

Every file under the image store is given the kind of the table column that references it
(``staged_images.output_uri [copy_paste]``, ``animations.gif_uri``, ...; an object two columns
share counts once, under the first), a file no row references is ``unreferenced``. Every file
under the gallery is a page (``index.html``), or the asset of a store object it copies or
previews, named after that object's kind. Writes ``<out>.json`` and ``<out>.md``: per kind the
files, bytes and bytes per catalog product, and the totals per place and per file type.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DS = "2026-11-24"
# Tables whose *_uri columns point into the image store, in the order an object shared by two
# columns is attributed (the first wins); ``method`` splits staged_images by staging method.
REFERENCING = {
    "catalog_images": ("image_uri",),
    "product_cutouts": ("mask_uri",),
    "donor_slots": ("mask_uri",),
    "shape_index_versions": ("index_uri", "members_uri"),
    "staged_images": ("output_uri", "product_mask_uri", "gap_mask_uri", "box_mask_uri",
                      "crop_square_uri", "crop_wide_uri"),
    "animations": ("mp4_uri", "webm_uri", "gif_uri", "plate_uri"),
}
PLACES = ("image store", "gallery")


@dataclass
class KindSize:
    place: str
    kind: str
    files: int = 0
    bytes: int = 0


# ---- pure: attributing files to kinds, the tables ---------------------------------------------
def object_name(uri: str) -> str:
    """A store object's file name (``<sha256>.<ext>``), which the gallery's assets keep."""
    return uri.rsplit("/", 1)[-1]


def kinds_by_uri(rows: dict[str, list[dict]]) -> dict[str, str]:
    """uri -> kind, from each referencing table's rows (``REFERENCING`` order, first wins)."""
    out: dict[str, str] = {}
    for table, cols in REFERENCING.items():
        for col in cols:
            for r in rows.get(table, []):
                uri = r.get(col)
                if isinstance(uri, str) and uri and uri not in out:
                    method = r.get("method") if table == "staged_images" else None
                    out[uri] = f"{table}.{col}" + (f" [{method}]" if method else "")
    return out


def store_kind(rel: str, kinds: dict[str, str], store_uri: str) -> str:
    return kinds.get(f"{store_uri}/{rel}", "unreferenced")


def gallery_kind(rel: str, by_name: dict[str, str]) -> str:
    """A gallery file's kind: ``page``, or the store object's kind it copies (``<name>``) or
    previews (``<sha256>-<variant>.<ext>``), suffixed ``copy`` / ``preview``."""
    name = rel.rsplit("/", 1)[-1]
    if name.endswith(".html"):
        return "page"
    if name in by_name:
        return f"{by_name[name]} (copy)"
    sha = name.split("-", 1)[0].split(".", 1)[0]
    for full, kind in by_name.items():
        if full.split(".", 1)[0] == sha:
            return f"{kind} (preview)"
    return "other"


def tally(files: list[tuple[str, str, int]]) -> list[KindSize]:
    """(place, kind, size) per file -> one KindSize per (place, kind), largest first."""
    acc: dict[tuple[str, str], KindSize] = {}
    for place, kind, size in files:
        k = acc.setdefault((place, kind), KindSize(place, kind))
        k.files += 1
        k.bytes += size
    return sorted(acc.values(), key=lambda k: (PLACES.index(k.place) if k.place in PLACES else 9,
                                               -k.bytes, k.kind))


def totals(files: list[tuple[str, str, int]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"files": 0, "bytes": 0})
    for place, kind, size in files:
        for key in (place, "all"):
            out[key]["files"] += 1
            out[key]["bytes"] += size
        if place == "image store" and kind.startswith("animations."):
            out["animations (store)"]["files"] += 1
            out["animations (store)"]["bytes"] += size
    return dict(out)


def by_extension(paths: list[tuple[str, str, int]]) -> dict[str, dict[str, int]]:
    """(place, relative path, size) -> {"<place> .<ext>": {files, bytes}}."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"files": 0, "bytes": 0})
    for place, rel, size in paths:
        ext = rel.rsplit(".", 1)[-1].lower() if "." in rel.rsplit("/", 1)[-1] else "(none)"
        out[f"{place} .{ext}"]["files"] += 1
        out[f"{place} .{ext}"]["bytes"] += size
    return dict(sorted(out.items()))


def _size(n: float) -> str:
    for unit, k in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if abs(n) >= k:
            return f"{n / k:.1f} {unit}"
    return f"{n:.0f} B"


def markdown(result: dict) -> str:
    meta, products = result["meta"], max(result["meta"]["products"], 1)
    confs = ", ".join(f"`{c}`" for c in meta.get("conf", [])) or "defaults"
    lines = [f"{meta['products']} catalog products ({meta.get('staged_products', '?')} staged, "
             f"{meta.get('clips', '?')} clips), {meta['when']}; settings: {confs}.", "",
             "| place | kind | files | bytes | bytes / product |", "| --- | --- | --- | --- | --- |"]
    for k in result["kinds"]:
        lines.append(f"| {k['place']} | {k['kind']} | {k['files']} | {_size(k['bytes'])} | "
                     f"{_size(k['bytes'] / products)} |")
    lines += ["", "| total | files | bytes | bytes / product | files / product |",
              "| --- | --- | --- | --- | --- |"]
    for name, t in result["totals"].items():
        lines.append(f"| {name} | {t['files']} | {_size(t['bytes'])} | "
                     f"{_size(t['bytes'] / products)} | {t['files'] / products:.1f} |")
    lines += ["", "| file type | files | bytes |", "| --- | --- | --- |"]
    for name, t in result["extensions"].items():
        lines.append(f"| {name} | {t['files']} | {_size(t['bytes'])} |")
    return "\n".join(lines) + "\n"


# ---- measuring ---------------------------------------------------------------------------------
def _walk(root: Path) -> list[tuple[str, int]]:
    if not root.exists():
        return []
    return sorted((p.relative_to(root).as_posix(), p.stat().st_size)
                  for p in root.rglob("*") if p.is_file() and not p.name.endswith((".tmp", ".part")))


def _rows(warehouse: str) -> dict[str, list[dict]]:
    from deltalake import DeltaTable

    out = {}
    for table, cols in REFERENCING.items():
        path = Path(warehouse) / table
        if not (path / "_delta_log").exists():
            continue
        dataset = DeltaTable(str(path)).to_pyarrow_dataset()
        names = [c for c in (*cols, "method", "product_id") if c in dataset.schema.names]
        out[table] = dataset.to_table(columns=names).to_pylist()
    return out


def measure(settings, products: int) -> dict:
    rows = _rows(settings.warehouse_uri)
    kinds = kinds_by_uri(rows)
    by_name = {object_name(u): k for u, k in kinds.items()}
    store_root = Path(settings.image_store_uri)
    store = [(rel, n) for rel, n in _walk(store_root)]
    gallery = _walk(settings.gallery_path)
    files = ([("image store", store_kind(rel, kinds, settings.image_store_uri), n)
              for rel, n in store]
             + [("gallery", gallery_kind(rel, by_name), n) for rel, n in gallery])
    staged = {r["product_id"] for r in rows.get("staged_images", [])}
    return {"meta": {"products": products, "staged_products": len(staged),
                     "clips": len(rows.get("animations", []))},
            "kinds": [asdict(k) for k in tally(files)], "totals": totals(files),
            "extensions": by_extension([("image store", r, n) for r, n in store]
                                       + [("gallery", r, n) for r, n in gallery])}


def _catalog_products(warehouse: str) -> int:
    from deltalake import DeltaTable

    path = Path(warehouse) / "catalog_images"
    if not (path / "_delta_log").exists():
        return 0
    t = DeltaTable(str(path)).to_pyarrow_dataset().to_table(columns=["product_id"])
    return len(set(t.column("product_id").to_pylist()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=30, help="catalog size (default 30)")
    parser.add_argument("--work", type=Path, help="folder for the catalog, the night and its logs")
    parser.add_argument("--home", type=Path, help="with --measure-only: an adstage home to measure")
    parser.add_argument("--out", type=Path, required=True,
                        help="results path without suffix: writes <out>.json and <out>.md")
    parser.add_argument("--ds", default=DS, help=f"logical date (default {DS})")
    parser.add_argument("--staged-size", default="1024x768",
                        help="room photos' WxH (default 1024x768: the demo's 512x384 is a "
                             "quarter of a shop's lifestyle photo, and sizes scale with pixels)")
    parser.add_argument("--unstaged-size", type=int, default=640,
                        help="side of the product photos (default 640)")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for every job of the night (ADSTAGE_<KEY>); repeatable")
    parser.add_argument("--measure-only", action="store_true",
                        help="measure the night already in --work (or --home); run nothing")
    args = parser.parse_args(argv)
    if not args.work and not args.home:
        parser.error("--work or --home is needed")

    from adstage.config import Settings, parse_overrides

    confs = parse_overrides(args.conf)
    Settings.load(confs, environ={})  # a misspelt or invalid --conf fails here, not in a job
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable)
    env.update({f"ADSTAGE_{k.strip().upper()}": v for k, v in confs.items()})
    home = args.home.resolve() if args.home else args.work.resolve() / "home"
    meta = {"ds": args.ds, "conf": args.conf, "command": " ".join(sys.argv),
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if not args.measure_only:
        work = args.work.resolve()
        started = time.monotonic()
        if not (work / "catalog" / "feed.jsonl").exists():
            subprocess.run([sys.executable, "-m", "adstage.demo.catalog", "--out",
                            str(work / "catalog"), "--products", str(args.products), "--ds",
                            args.ds, "--staged-size", args.staged_size, "--unstaged-size",
                            str(args.unstaged_size)], check=True, cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL)
        meta.update(staged_size=args.staged_size, unstaged_size=args.unstaged_size)
        rc = subprocess.run([sys.executable, str(ROOT / "bench" / "pipeline_throughput.py"),
                             "--products", str(args.products), "--work", str(work),
                             "--out", str(work / "throughput"), "--ds", args.ds],
                            env=env, cwd=ROOT).returncode
        meta["night_s"] = round(time.monotonic() - started, 1)
        if rc != 0:
            print(f"the night failed (rc {rc}): see {work / 'logs'}", file=sys.stderr)
            return 1
        meta["throughput"] = str(work / "throughput.md")
    env["ADSTAGE_HOME"] = str(home)
    settings = Settings.load(environ={k: v for k, v in env.items() if k.startswith("ADSTAGE_")})
    products = _catalog_products(settings.warehouse_uri) or args.products
    result = measure(settings, products)
    result["meta"] = {**meta, **result["meta"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.json").write_text(json.dumps(result, indent=1))
    Path(f"{args.out}.md").write_text(markdown(result))
    print(Path(f"{args.out}.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
