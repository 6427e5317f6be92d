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

# IKEA product types -> the pipeline's categories, by the type's head noun (None: not a piece
# we stage; a "Cot" is a child's bed, which the detectors call bed). A substring match made a
# "Vegetable knife" a table, a "Mattress" and a "Fitted sheet" a bed, "Chair pads" a chair and
# an "LED stool lamp" a chair; the head noun decides instead. tests/test_ikea_categories.py
# holds the expected category of every type of the set.
_HEADS = {
    "sofa": "sofa", "sofa-bed": "sofa", "armchair": "armchair", "chair": "chair",
    "highchair": "chair", "stool": "chair", "footstool": "chair", "bed": "bed", "cot": "bed",
    "lamp": "lamp", "spotlight": "lamp", "chandelier": "lamp", "table": "table",
    "desk": "table", "cabinet": "cabinet", "bookcase": "cabinet", "wardrobe": "cabinet",
    "sideboard": "cabinet", "chest": "cabinet", "clock": "clock",
}
# Two-word heads whose last word alone is not a category ("plant pot", "shelving unit").
_COMPOUNDS = {("plant", "pot"): "plant_pot", ("shelving", "unit"): "cabinet",
              ("shelf", "unit"): "cabinet"}
# Part words: a "Bed frame", a "Floor lamp base", a "Lamp shade", a "Sideboard basic unit"
# belong to the nearest category noun before them; alone (a picture "Frame") to none.
_PARTS = {"frame", "base", "shade", "unit"}
# Words that end the head phrase: what follows qualifies it ("Bed frame with storage",
# "Net for plant pot", "Two-seat sofa and chaise longue", "Table+2 chairs").
_CONNECTORS = {"with", "w", "for", "and", "on", "in"}
# "Chest of 3 drawers" is a chest, but a "Nest of tables" is tables.
_COLLECTIVES = {"nest", "set", "pair"}
# IKEA's own abbreviations in long types.
_ABBREVIATIONS = {"frm": "frame", "tbl": "table", "drs": "doors", "cab": "cabinet",
                  "bd": "bed"}
# Types the rules read wrong, reviewed one by one ("Stor baskets changing tbl set of 4" is
# "Storage baskets for changing table", truncated; a "Mini chest with 3 drawers" is a 30 cm
# desktop box, not a cabinet).
_EXCEPTIONS: dict[str, str | None] = {"stor baskets changing tbl set of 4": None,
                                      "mini chest with 3 drawers": None}


def _word_category(word: str) -> str | None:
    for w in (word, word[:-1] if word.endswith("s") else word):
        if w in _HEADS:
            return _HEADS[w]
        # "day-bed", "rocking-chair": the last part of a hyphenated word is its head.
        if "-" in w and w not in ("sofa-bed",) and w.rsplit("-", 1)[1] in _HEADS:
            return _HEADS[w.rsplit("-", 1)[1]]
    return None


def category_of(product_type: str) -> str | None:
    """Map an IKEA product type ("Two-seat sofa", "Table lamp") to a pipeline category.

    The head noun decides: the last noun of the type's head phrase, which ends at the first
    ", " ("Chair, outdoor"), connector ("Bed frame with storage", "Net for plant pot") or "+";
    of alternatives joined by "," the last ("Ceiling,wall lamp" -> lamp); a leading "Cover"
    is the head ("Cover two-seat sofa"). "Table lamp" -> lamp, "Bedside table" -> table,
    "Chair pad" -> None, "Mattress" -> None."""
    t = " ".join((product_type or "").lower().split())
    if t in _EXCEPTIONS:
        return _EXCEPTIONS[t]
    t = t.split(", ", 1)[0].replace("in,outdoor", "").replace("+", " + ")
    words: list[str] = []
    for word in t.split():
        if word in _CONNECTORS or word == "+":
            break
        words.append(_ABBREVIATIONS.get(word, word))
    if not words:
        return None
    # Alternatives: "ceiling,wall lamp", "changing table,chest of drawers" -> the last one.
    phrase = " ".join(words).rsplit(",", 1)[-1].split()
    if not phrase or phrase[0] in ("cover", "covers"):
        return None
    if "of" in phrase[1:]:
        i = phrase.index("of")
        if phrase[i - 1] in _COLLECTIVES:
            phrase = phrase[i + 1:]          # "nest of tables" -> tables
        else:
            phrase = phrase[:i]              # "chest of 3 drawers" -> chest
        if not phrase:
            return None
    head = phrase[-1]
    if len(phrase) > 1 and (phrase[-2], head) in _COMPOUNDS:
        return _COMPOUNDS[(phrase[-2], head)]
    if head in _PARTS:
        for word in reversed(phrase[:-1]):
            if _word_category(word):
                return _word_category(word)
        return None
    return _word_category(head)


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
