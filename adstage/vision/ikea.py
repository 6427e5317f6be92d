"""The IKEA research set (`../shared/datasets/ikea`), read in place for training and evaluation.

Non-commercial research use only: nothing read here is ever written into the repository.
Splits are by product id and by room id (a stable hash), so a held-out room never lends a crop
to training and a held-out product never appears in training under another name.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from adstage.evalsplit import is_holdout

DEFAULT_ROOT = Path(os.environ.get("ADSTAGE_IKEA_ROOT",
                                   Path(__file__).resolve().parents[3] / "shared/datasets/ikea"))

# IKEA product types -> the pipeline's categories (None: not a replaceable piece we stage).
_TYPE_WORDS = (
    ("sofa", "sofa"), ("armchair", "armchair"), ("chair", "chair"), ("stool", "chair"),
    ("bed", "bed"), ("lamp", "lamp"), ("table", "table"), ("desk", "table"),
    ("cabinet", "cabinet"), ("bookcase", "cabinet"), ("shelving", "cabinet"),
    ("wardrobe", "cabinet"), ("chest of", "cabinet"), ("sideboard", "cabinet"),
    ("clock", "clock"), ("plant pot", "plant_pot"),
)


def category_of(product_type: str) -> str | None:
    """Map an IKEA product type ("Two-seat sofa", "Table lamp") to a pipeline category."""
    t = (product_type or "").lower()
    if "sofa-bed" in t or "sofa bed" in t:
        return "sofa"
    for word, cat in _TYPE_WORDS:
        if word in t:
            return cat
    return None


def holdout(key: str, fraction: float = 0.2) -> bool:
    """Stable split: True for about `fraction` of keys, the same on every machine and run."""
    return is_holdout(key, fraction)


@dataclass(frozen=True)
class Item:
    key: str           # product id or room id
    path: Path
    kind: str          # "product" (unstaged) | "room" (staged)
    category: str | None
    test: bool


def items(root: Path = DEFAULT_ROOT, fraction: float = 0.2) -> list[Item]:
    """Every product photo and room photo with its split."""
    out: list[Item] = []
    for line in (root / "products.jsonl").read_text().splitlines():
        rec = json.loads(line)
        out.append(Item(rec["product_id"], root / rec["image"], "product",
                        category_of(rec.get("type", "")), holdout("p" + rec["product_id"], fraction)))
    for line in (root / "rooms.jsonl").read_text().splitlines():
        rec = json.loads(line)
        out.append(Item(rec["room_id"], root / rec["image"], "room", None,
                        holdout("r" + rec["room_id"], fraction)))
    return [i for i in out if i.path.is_file()]
