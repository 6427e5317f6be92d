"""One demo product: its shape class, colour and texture, drawn as a BGR image with an exact mask.

A product is a list of flat parts: polygons in centimetres (x to the right, y up from the floor)
each with a shading role. The geometry is sampled once per product and rendered at any scale, so
the unstaged photo and the staged room show the very same object.

Parts are filled without anti-aliasing: a pixel is product exactly when its mask is 255, which is
what makes the masks ground truth rather than an estimate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

Rng = np.random.Generator

# Brightest value a product pixel may take. Real photos of a white product on white show it a
# few levels darker than the backdrop; keeping that margin makes the hard case hard, not ill-posed.
PRODUCT_MAX = 240

# Named colours, RGB for readability (images are BGR).
PALETTE: dict[str, tuple[int, int, int]] = {
    "white": (238, 237, 232), "light grey": (204, 204, 200), "cream": (230, 219, 194),
    "beige": (204, 184, 154), "charcoal": (64, 66, 70), "black": (36, 36, 38),
    "navy": (38, 52, 88), "sky blue": (128, 166, 200), "teal": (30, 108, 112),
    "sage": (146, 164, 132), "olive": (108, 110, 58), "forest green": (42, 84, 58),
    "mustard": (204, 158, 50), "terracotta": (186, 96, 64), "dusty pink": (206, 154, 150),
    "burgundy": (112, 32, 44), "cognac": (150, 84, 42), "tan": (182, 136, 92),
    "dark brown": (80, 52, 36), "oak": (196, 156, 108), "walnut": (112, 74, 48),
    "pine": (214, 180, 130),
}
METALS: dict[str, tuple[int, int, int]] = {
    "black metal": (40, 40, 42), "brass": (178, 146, 80), "chrome": (176, 180, 186),
}
LINENS: dict[str, tuple[int, int, int]] = {
    "white linen": (234, 231, 224), "grey linen": (192, 192, 188), "sand linen": (212, 198, 176),
}
LIGHT_COLORS = ("white", "light grey")
_FABRIC = ("navy", "charcoal", "beige", "cream", "sage", "olive", "mustard", "terracotta", "teal",
           "dusty pink", "forest green", "burgundy", "sky blue")
_LEATHER = ("cognac", "tan", "black", "dark brown", "burgundy")
_PAINT = ("black", "charcoal", "navy", "sage", "sky blue", "terracotta", "mustard", "forest green",
          "cream", "dusty pink")
_WOOD = ("oak", "walnut", "pine")

TEXTURES = ("plain", "fabric", "stripes", "wood_grain", "leather")
_CATEGORY_TEXTURES: dict[str, dict[str, float]] = {
    "sofa": {"fabric": .45, "plain": .15, "stripes": .15, "leather": .25},
    "armchair": {"fabric": .45, "plain": .15, "stripes": .15, "leather": .25},
    "chair": {"wood_grain": .5, "plain": .3, "fabric": .2},
    "table": {"wood_grain": .65, "plain": .35},
    "cabinet": {"wood_grain": .6, "plain": .4},
    "bed": {"fabric": .5, "wood_grain": .35, "leather": .15},
    "lamp": {"fabric": .45, "plain": .4, "stripes": .15},
}

# role -> (material, brightness, top-to-bottom gradient, edge darkening, edge falloff in cm).
# Edge darkening is what turns flat polygons into cushions: every part rounds off at its rim.
_ROLES: dict[str, tuple[str, float, float, float, float]] = {
    "body": ("main", 1.00, 0.12, 0.22, 1.5),
    "arm": ("main", 0.95, 0.16, 0.30, 2.5),
    "cushion": ("main", 1.04, 0.14, 0.32, 2.5),
    "top": ("main", 1.13, 0.04, 0.08, 1.0),
    "under": ("main", 0.60, 0.05, 0.10, 1.0),
    "panel": ("main", 0.95, 0.08, 0.25, 1.2),
    "seam": ("main", 0.50, 0.00, 0.00, 1.0),
    "shade": ("main", 1.05, 0.12, 0.15, 1.5),
    "ceramic": ("main_plain", 1.00, 0.25, 0.35, 3.0),
    "leg": ("leg", 1.00, 0.10, 0.15, 0.8),
    "leg_back": ("leg", 0.70, 0.10, 0.00, 1.0),
    "metal": ("metal", 1.00, 0.05, 0.00, 1.0),
    "handle": ("metal", 1.00, 0.00, 0.00, 1.0),
    "linen": ("linen", 1.00, 0.10, 0.20, 2.0),
    "pillow": ("linen", 1.05, 0.14, 0.35, 3.0),
}


@dataclass(frozen=True)
class Part:
    """A filled polygon in centimetres (x right, y up from the floor) with a shading role."""

    role: str
    poly: np.ndarray  # (k, 2) float


@dataclass(frozen=True)
class ProductSpec:
    """Everything needed to draw one product, identically at any scale."""

    shape_class: str              # "category/shape"
    color: str                    # name in PALETTE
    texture: str                  # one of TEXTURES
    parts: tuple[Part, ...]
    leg_color: str                # PALETTE or METALS name
    leg_texture: str              # "wood_grain", "plain" or "metal"
    metal: str                    # METALS name for poles and handles
    linen: str                    # LINENS name for bedding
    pattern_cm: float             # stripe / grain period

    @property
    def category(self) -> str:
        return self.shape_class.split("/")[0]

    @property
    def size_cm(self) -> tuple[float, float]:
        """Width and height of the drawn silhouette."""
        x0, y0, x1, y1 = _bounds(self.parts)
        return x1 - x0, y1 - y0


# ---- geometry helpers ------------------------------------------------------------------------

def _rect(role: str, x0: float, y0: float, x1: float, y1: float, r: float = 0.0) -> Part:
    r = max(0.0, min(r, (x1 - x0) / 2, (y1 - y0) / 2))
    if r == 0:
        pts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    else:
        pts = []
        for cx, cy, a0 in ((x1 - r, y1 - r, 0), (x0 + r, y1 - r, 90),
                           (x0 + r, y0 + r, 180), (x1 - r, y0 + r, 270)):
            for a in np.linspace(a0, a0 + 90, 7):
                pts.append((cx + r * math.cos(math.radians(a)), cy + r * math.sin(math.radians(a))))
    return Part(role, np.asarray(pts, dtype=np.float64))


def _ellipse(role: str, cx: float, cy: float, rx: float, ry: float) -> Part:
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    return Part(role, np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1))


def _poly(role: str, pts: list[tuple[float, float]]) -> Part:
    return Part(role, np.asarray(pts, dtype=np.float64))


def _mirror(part: Part, width: float) -> Part:
    """The part reflected about x = width / 2 (furniture seen from the front is symmetric)."""
    poly = part.poly.copy()
    poly[:, 0] = width - poly[:, 0]
    return Part(part.role, poly)


def _pair(part: Part, width: float) -> list[Part]:
    return [part, _mirror(part, width)]


def _bounds(parts: tuple[Part, ...] | list[Part]) -> tuple[float, float, float, float]:
    pts = np.concatenate([p.poly for p in parts])
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


# ---- shape classes ---------------------------------------------------------------------------
# Jitter ranges are kept apart between classes of similar outline (two- vs three-seat sofa:
# aspect 1.7-2.1 vs 2.4-3.0) so that retrieval by silhouette has a well-posed answer.

def _sofa(rng: Rng, seats: int) -> list[Part]:
    u = rng.uniform
    W = u(150, 170) if seats == 2 else u(210, 235)
    H, arm_w, seat_h, leg = u(80, 90), u(15, 21), u(42, 46), u(6, 10)
    arm_h, skirt = H * u(0.62, 0.68), leg + u(9, 12)
    lx = u(4, 8)
    parts = _pair(_rect("leg", lx, 0, lx + u(4, 6), leg + 1), W)
    parts.append(_rect("under", 1.5, leg, W - 1.5, skirt + 2, r=1.5))
    # The frame reaches down behind the seat cushions so that the seams between them show
    # upholstery, not holes.
    parts.append(_rect("body", arm_w - 3, skirt, W - arm_w + 3, H, r=7))
    edges = np.linspace(arm_w, W - arm_w, seats + 1)
    for a, b in zip(edges[:-1], edges[1:]):
        parts.append(_rect("cushion", a + 0.6, seat_h - 2, b - 0.6, H - u(2, 5), r=6))
    for a, b in zip(edges[:-1], edges[1:]):
        parts.append(_rect("cushion", a + 0.6, skirt, b - 0.6, seat_h, r=3))
    parts += _pair(_rect("arm", 0, leg, arm_w, arm_h, r=min(8, arm_w / 2)), W)
    return parts


def _corner_sofa(rng: Rng) -> list[Part]:
    """Front view of an L-sofa: the chaise comes towards the camera, so it sits lower."""
    u = rng.uniform
    W, H, arm_w, seat_h, leg = u(225, 250), u(80, 88), u(15, 20), u(42, 46), u(6, 9)
    arm_h, skirt = H * u(0.62, 0.68), leg + u(9, 12)
    cw, drop, ext = u(80, 95), u(24, 32), u(6, 10)
    chaise_top = seat_h - drop * 0.45
    parts = [_rect("leg", 6, 0, 11, leg + 1), _rect("leg", W - cw - 12, 0, W - cw - 7, leg + 1),
             _rect("under", 1.5, leg, W - cw, skirt + 2, r=1.5),
             _rect("body", arm_w - 3, skirt, W, H, r=7)]
    edges = np.linspace(arm_w, W - 2, 4)
    for a, b in zip(edges[:-1], edges[1:]):
        parts.append(_rect("cushion", a + 0.6, seat_h - 2, b - 0.6, H - u(2, 5), r=6))
    for a, b in zip(edges[:-2], np.append(edges[1:-2], W - cw)):
        parts.append(_rect("cushion", a + 0.6, skirt, b - 0.6, seat_h, r=3))
    parts.append(_rect("arm", 0, leg, arm_w, arm_h, r=min(8, arm_w / 2)))
    parts += [_rect("leg", W - cw + 4, -drop, W - cw + 9, -drop + leg + 1),
              _rect("leg", W + ext - 9, -drop, W + ext - 4, -drop + leg + 1),
              _rect("under", W - cw, -drop + leg, W + ext, -drop + skirt + 2, r=1.5),
              _poly("top", [(W - cw, chaise_top), (W + ext, chaise_top), (W + 1, seat_h + 1),
                            (W - cw + 2, seat_h + 1)]),
              _rect("cushion", W - cw, -drop + skirt, W + ext, chaise_top + 1, r=3)]
    return parts


def _club_armchair(rng: Rng) -> list[Part]:
    u = rng.uniform
    W, H, arm_w, seat_h, leg = u(80, 94), u(72, 80), u(19, 24), u(40, 44), u(3, 5)
    arm_h, skirt = H * u(0.78, 0.85), leg + u(8, 10)
    parts = _pair(_rect("leg", 5, 0, 12, leg + 1, r=2), W)
    parts.append(_rect("under", 2, leg, W - 2, skirt + 2, r=1.5))
    parts.append(_rect("body", arm_w - 3, skirt, W - arm_w + 3, H, r=9))
    parts.append(_rect("cushion", arm_w, seat_h - 2, W - arm_w, H - u(3, 5), r=6))
    parts.append(_rect("cushion", arm_w, skirt, W - arm_w, seat_h, r=4))
    parts += _pair(_rect("arm", 0, leg, arm_w, arm_h, r=arm_w * 0.45), W)
    return parts


def _wingback_armchair(rng: Rng) -> list[Part]:
    u = rng.uniform
    W, H, leg, seat_h = u(76, 86), u(102, 112), u(15, 20), u(45, 49)
    arm_h, arm_w = u(62, 68), u(10, 13)
    parts = _pair(_poly("leg", [(3, leg + 1), (8, leg + 1), (6.5, 0), (4.5, 0)]), W)
    parts.append(_rect("under", 2, leg, W - 2, leg + u(6, 9), r=1.5))
    parts.append(_rect("body", arm_w - 2, leg + 4, W - arm_w + 2, seat_h + 2))  # behind the seat
    parts.append(_rect("body", arm_w - 2, seat_h - 4, W - arm_w + 2, H, r=12))
    parts += _pair(_poly("arm", [(arm_w + 2, arm_h - 10), (0.5, arm_h - 6), (-1.5, arm_h + 10),
                                 (-1, H - 16), (3, H - 7), (arm_w + 4, H - 4)]), W)
    parts += _pair(_rect("arm", 0, leg + 2, arm_w + 1, arm_h, r=5), W)
    parts.append(_rect("cushion", arm_w + 1, leg + 6, W - arm_w - 1, seat_h, r=3))
    return parts


def _dining_chair(rng: Rng) -> list[Part]:
    u = rng.uniform
    W, H, seat_h, st, lw = u(42, 48), u(82, 92), u(44, 47), u(4, 6), u(3, 4.2)
    back_y = seat_h + u(14, 20)
    parts = _pair(_rect("leg_back", 2.5, 2, 2.5 + lw, H), W)
    parts.append(_rect("body", 2 + lw, back_y, W - 2 - lw, H - u(1, 3), r=1.5))
    parts.append(_rect("body", 2 + lw, seat_h + 3, W - 2 - lw, seat_h + 3 + u(3, 5)))
    stretcher = u(14, 20)
    parts.append(_rect("leg_back", lw, stretcher, W - lw, stretcher + 2))
    parts.append(_poly("top", [(0, seat_h), (W, seat_h), (W - 2.5, seat_h + 3), (2.5, seat_h + 3)]))
    parts.append(_rect("body", -0.5, seat_h - st, W + 0.5, seat_h, r=1))
    parts += _pair(_rect("leg", 0, 0, lw, seat_h - st), W)
    return parts


def _stool(rng: Rng) -> list[Part]:
    u = rng.uniform
    W, H, top_w, st, foot = u(40, 46), u(62, 72), u(33, 38), u(5, 7), u(20, 26)
    cx, x_in = W / 2, W / 2 - top_w / 2 + 3
    parts = [_poly("leg_back", [(cx - 1.6, H - st), (cx + 1.6, H - st), (cx + 1.8, 4),
                                (cx - 1.8, 4)]),
             _rect("leg_back", W * 0.14, foot, W * 0.86, foot + 2.2)]
    parts += _pair(_poly("leg", [(x_in, H - st), (x_in + 3.5, H - st), (3.5, 0), (0, 0)]), W)
    parts.append(_rect("cushion", cx - top_w / 2, H - st, cx + top_w / 2, H, r=2.5))
    parts.append(_ellipse("top", cx, H, top_w / 2, top_w * 0.12))
    return parts


def _dining_table(rng: Rng) -> list[Part]:
    u = rng.uniform
    W, H, tt, apron = u(150, 185), u(74, 77), u(3.5, 5), u(7, 10)
    lw, inset, td = u(5, 7), u(2, 6), u(5, 8)
    parts = _pair(_rect("leg_back", inset + 9, 4, inset + 9 + lw * 0.8, H - tt), W)
    parts.append(_rect("under", inset, H - tt - apron, W - inset, H - tt))
    parts += _pair(_rect("leg", inset, 0, inset + lw, H - tt), W)
    parts.append(_poly("top", [(0, H), (W, H), (W - 3, H + td), (3, H + td)]))
    parts.append(_rect("body", 0, H - tt, W, H))
    return parts


def _round_coffee_table(rng: Rng) -> list[Part]:
    u = rng.uniform
    D, H, tt, pw = u(80, 100), u(40, 47), u(3, 5), u(10, 16)
    ry, cx = D * u(0.12, 0.15), D / 2
    return [_ellipse("under", cx, 3, D * u(0.22, 0.28), u(3, 4.5)),
            _rect("body", cx - pw / 2, 3, cx + pw / 2, H - tt),
            _ellipse("body", cx, H - tt, D / 2, ry),
            _ellipse("top", cx, H, D / 2, ry)]


def _floor_lamp(rng: Rng) -> list[Part]:
    u = rng.uniform
    H, sw, sh = u(150, 172), u(38, 48), u(28, 36)
    top_w, cx = sw * u(0.65, 0.8), sw / 2
    return [_ellipse("metal", cx, 2.5, u(13, 17), 2.5),
            _rect("metal", cx - 1.2, 2.5, cx + 1.2, H - sh + 4),
            _poly("shade", [(0, H - sh), (sw, H - sh), (cx + top_w / 2, H), (cx - top_w / 2, H)])]


def _table_lamp(rng: Rng) -> list[Part]:
    u = rng.uniform
    H, sw = u(50, 60), u(32, 40)
    sh, top_w, bw, bh = H * u(0.40, 0.46), sw * u(0.7, 0.85), u(16, 22), u(18, 24)
    cx = sw / 2
    return [_rect("metal", cx - bw * 0.3, 0, cx + bw * 0.3, 2.5, r=1),
            _rect("metal", cx - 1, bh, cx + 1, H - sh + 3),
            _ellipse("ceramic", cx, 2 + bh / 2, bw / 2, bh / 2),
            _poly("shade", [(0, H - sh), (sw, H - sh), (cx + top_w / 2, H), (cx - top_w / 2, H)])]


def _doors(x0: float, x1: float, y0: float, y1: float, n: int, rng: Rng) -> list[Part]:
    """n door panels with seams and handles between x0 and x1."""
    parts: list[Part] = []
    edges = np.linspace(x0, x1, n + 1)
    hy, hl = (y0 + y1) / 2, min(8.0, (y1 - y0) * 0.18)
    horizontal = rng.uniform() < 0.5
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        parts.append(_rect("panel", a + 1.8, y0 + 1.8, b - 1.8, y1 - 1.8, r=0.8))
        hx = b - 4 if i % 2 == 0 else a + 4
        if horizontal:
            parts.append(_rect("handle", (a + b) / 2 - 5, y1 - 6, (a + b) / 2 + 5, y1 - 4.5, r=0.6))
        else:
            parts.append(_rect("handle", hx - 0.8, hy - hl, hx + 0.8, hy + hl, r=0.6))
    for e in edges[1:-1]:
        parts.append(_rect("seam", e - 0.4, y0, e + 0.4, y1))
    return parts


def _tall_cabinet(rng: Rng) -> list[Part]:
    u = rng.uniform
    W, H, plinth, crown = u(80, 100), u(180, 200), u(6, 10), u(3, 5)
    parts = [_rect("under", 2, 0, W - 2, plinth), _rect("body", 0, plinth, W, H - crown),
             _rect("top", -1.5, H - crown, W + 1.5, H)]
    if rng.uniform() < 0.5:  # a drawer under the doors
        dy = plinth + u(18, 24)
        parts += _doors(0, W, plinth, dy, 1, rng)[:1] + [_rect("seam", 0, dy - 0.4, W, dy + 0.4)]
        parts += _doors(0, W, dy, H - crown, 2, rng)
    else:
        parts += _doors(0, W, plinth, H - crown, 2, rng)
    return parts


def _sideboard(rng: Rng) -> list[Part]:
    u = rng.uniform
    W, H, leg, tt = u(160, 185), u(72, 80), u(16, 22), u(2, 3)
    parts = _pair(_poly("leg", [(5, leg + 1), (10, leg + 1), (8.5, 0), (6.5, 0)]), W)
    parts += [_rect("body", 0, leg, W, H - tt), _rect("top", -1, H - tt, W + 1, H)]
    parts += _doors(0, W, leg, H - tt, int(rng.integers(3, 5)), rng)
    return parts


def _double_bed(rng: Rng) -> list[Part]:
    """From the foot at an angle: a long duvet receding to the headboard, two plump pillows
    against it, the far end narrower and shifted left or right. Drawn so the pretrained
    detectors see a bed: the earlier straight-on view (headboard, pillows and a linen band over
    the frame) read as a couch to CenterNet 18 times in 24 and as a bed 2 times; this one, a bed
    26 times in 40 (docs/donor-slots.md, "The demo")."""
    u = rng.uniform
    W, leg = u(160, 180), u(6, 10)
    front = leg + u(20, 26)
    depth = u(65, 85)                                 # the duvet's drawn depth
    hw = W * u(0.78, 0.85)
    hx = (W - hw) / 2 + u(20, 40) * (1 if u() < 0.5 else -1)
    back = front + depth
    parts = [_rect("body", hx - 2, back - 4, hx + hw + 2, back + u(40, 55), r=3)]  # headboard
    parts += _pair(_rect("leg", 3, 0, 9, leg + 1), W)
    parts.append(_rect("body", 0, leg, W, front, r=2))
    parts.append(_poly("linen", [(0, front + 3), (W, front + 3), (hx + hw, back), (hx, back)]))
    pw = hw / 2 - 4
    for x in (hx + 2, hx + hw / 2 + 2):
        parts.append(_rect("pillow", x, back - 6, x + pw, back + u(14, 18), r=7))
    parts.append(_rect("linen", -2, front - 8, W + 2, front + 6, r=4))   # the duvet's edge
    return parts


def _bunk_bed(rng: Rng) -> list[Part]:
    """Side view: two tiers between end posts, a guard rail on top and a ladder."""
    u = rng.uniform
    L, H, pw = u(195, 210), u(150, 168), u(5, 7)
    low, up, rail = u(18, 24), u(95, 105), u(10, 14)
    parts = []
    lx = L * u(0.62, 0.7)
    for y in (low, up):
        parts.append(_rect("linen", pw, y + rail - 2, L - pw, y + rail + u(12, 16), r=3))
        parts.append(_rect("body", 0, y, L, y + rail))
    parts.append(_rect("body", pw, H - 7, lx + 2, H - 2))  # guard rail, meets the ladder
    parts.append(_rect("body", pw, up + rail, pw + 3, H - 2))
    parts += [_rect("leg", 0, 0, pw, H), _rect("leg", L - pw, 0, L, H)]
    x0, x1 = lx + 2, lx + 40
    parts += [_rect("leg", x0, 0, x0 + 3.5, H - 2), _rect("leg", x1 - 3.5, 0, x1, up + rail)]
    # Rungs clear of the mattress edges: a rung grazing one leaves a hairline hole in the mask.
    for y in [12.0, *np.arange(low + rail + 22, up + rail - 4, 26)]:
        parts.append(_rect("leg_back", x0, y, x1, y + 3))
    return parts


SHAPE_BUILDERS = {
    "sofa/two_seat": lambda rng: _sofa(rng, 2),
    "sofa/three_seat": lambda rng: _sofa(rng, 3),
    "sofa/corner": _corner_sofa,
    "armchair/club": _club_armchair,
    "armchair/wingback": _wingback_armchair,
    "chair/dining": _dining_chair,
    "chair/stool": _stool,
    "table/rect_dining": _dining_table,
    "table/round_coffee": _round_coffee_table,
    "lamp/floor": _floor_lamp,
    "lamp/table": _table_lamp,
    "cabinet/tall": _tall_cabinet,
    "cabinet/wide_sideboard": _sideboard,
    "bed/double": _double_bed,
    "bed/bunk": _bunk_bed,
}
SHAPE_CLASSES: tuple[str, ...] = tuple(SHAPE_BUILDERS)
CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(s.split("/")[0] for s in SHAPE_CLASSES))

_NOUNS = {
    "sofa/two_seat": "two-seat sofa", "sofa/three_seat": "three-seat sofa",
    "sofa/corner": "corner sofa", "armchair/club": "club armchair",
    "armchair/wingback": "wingback armchair", "chair/dining": "dining chair",
    "chair/stool": "bar stool", "table/rect_dining": "dining table",
    "table/round_coffee": "round coffee table", "lamp/floor": "floor lamp",
    "lamp/table": "table lamp", "cabinet/tall": "tall cabinet",
    "cabinet/wide_sideboard": "sideboard", "bed/double": "double bed", "bed/bunk": "bunk bed",
}
_ADJECTIVES = {"stripes": "striped", "leather": "leather", "wood_grain": "solid wood"}


def title(spec: ProductSpec) -> str:
    """A merchant-style title, e.g. "Navy striped three-seat sofa"."""
    words = [spec.color] + ([_ADJECTIVES[spec.texture]] if spec.texture in _ADJECTIVES else [])
    words.append(_NOUNS[spec.shape_class])
    text = " ".join(words)
    return text[0].upper() + text[1:]


# ---- appearance ------------------------------------------------------------------------------

def sample_spec(shape_class: str, rng: Rng, light: bool = False) -> ProductSpec:
    """Draw geometry, colour and texture for one product; ``light`` forces white / light grey."""
    category = shape_class.split("/")[0]
    parts = tuple(SHAPE_BUILDERS[shape_class](rng))
    options = dict(_CATEGORY_TEXTURES[category])
    if light:  # light products are painted or upholstered, never bare wood or leather
        options = {k: v for k, v in options.items() if k not in ("wood_grain", "leather")}
    names = sorted(options)
    weights = np.array([options[n] for n in names])
    texture = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    if light:
        pool = LIGHT_COLORS
    elif texture == "leather":
        pool = _LEATHER
    elif texture == "wood_grain":
        pool = _WOOD
    elif texture == "plain" and category in ("chair", "table", "cabinet", "lamp"):
        pool = _PAINT
    else:
        pool = _FABRIC
    color = pool[int(rng.integers(len(pool)))]
    # Wooden and painted case goods are one material; upholstery stands on wood or metal legs.
    case_good = category in ("table", "cabinet", "chair")
    if texture == "wood_grain" or (case_good and rng.uniform() < 0.6):
        leg_color, leg_texture = color, ("wood_grain" if texture == "wood_grain" else "plain")
    elif rng.uniform() < 0.6:
        leg_color, leg_texture = _WOOD[int(rng.integers(len(_WOOD)))], "wood_grain"
    else:
        leg_color, leg_texture = "black metal", "metal"
    metal = sorted(METALS)[int(rng.integers(len(METALS)))]
    linen = sorted(LINENS)[int(rng.integers(len(LINENS)))]
    return ProductSpec(shape_class, color, texture, parts, leg_color, leg_texture, metal, linen,
                       float(rng.uniform(6, 10) if texture == "stripes" else rng.uniform(2.2, 3.2)))


def _lowfreq(rng: Rng, h: int, w: int, cell_px: float) -> np.ndarray:
    """Smooth zero-mean noise of roughly unit amplitude with features about ``cell_px`` wide."""
    gh, gw = max(2, int(h / cell_px) + 2), max(2, int(w / cell_px) + 2)
    return cv2.resize(rng.standard_normal((gh, gw)).astype(np.float32), (w, h),
                      interpolation=cv2.INTER_CUBIC)


def _texture_field(texture: str, spec: ProductSpec, s: float, h: int, w: int, rng: Rng,
                   vertical: bool = False) -> np.ndarray:
    """Multiplicative luminance pattern over the whole sprite, so patterns run across parts."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) / s  # centimetres
    if texture == "fabric":
        fine = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 0.6)
        return 1 + 0.045 * fine + 0.012 * _lowfreq(rng, h, w, 6 * s)
    if texture == "stripes":
        band = np.tanh(4 * np.sin(2 * np.pi * xx / spec.pattern_cm))
        return 1 + 0.10 * band + 0.01 * rng.standard_normal((h, w)).astype(np.float32)
    if texture == "wood_grain":
        # Rings at least ~3.5 px apart: finer grain would alias into moire at thumbnail scale.
        period = max(spec.pattern_cm, 3.5 / s)
        across = xx if vertical else yy
        warp = 0.2 * _lowfreq(rng, h, w, 30 * s)
        rings = np.sin(2 * np.pi * (across / period + warp))
        lines = rng.standard_normal((1, w) if vertical else (h, 1)).astype(np.float32)
        streak = cv2.resize(lines, (w, h), interpolation=cv2.INTER_LINEAR)
        return 1 + 0.05 * rings + 0.035 * streak
    if texture == "leather":
        fine = rng.standard_normal((h, w)).astype(np.float32)
        return 1 + 0.05 * _lowfreq(rng, h, w, 8 * s) + 0.012 * fine
    return 1 + 0.008 * rng.standard_normal((h, w)).astype(np.float32)


def _material(spec: ProductSpec, material: str) -> tuple[np.ndarray, str]:
    """Base BGR colour and texture of a part's material."""
    if material == "main":
        rgb, texture = PALETTE[spec.color], spec.texture
    elif material == "main_plain":
        rgb, texture = PALETTE[spec.color], "plain"
    elif material == "leg":
        rgb = METALS.get(spec.leg_color) or PALETTE[spec.leg_color]
        texture = spec.leg_texture
    elif material == "metal":
        rgb, texture = METALS[spec.metal], "metal"
    else:
        rgb, texture = LINENS[spec.linen], "fabric"
    return np.array(rgb[::-1], dtype=np.float32), texture


def render_product(spec: ProductSpec, px_per_cm: float, rng: Rng) -> tuple[np.ndarray, np.ndarray]:
    """Draw the product at ``px_per_cm``: a tight BGR sprite and its mask (uint8, 255 = product).

    Sprite pixels outside the mask are 0 and carry no meaning; paste with the mask.
    """
    s = float(px_per_cm)
    x_min, y_min, x_max, y_max = _bounds(spec.parts)
    w, h = int(math.ceil((x_max - x_min) * s)) + 1, int(math.ceil((y_max - y_min) * s)) + 1
    image = np.zeros((h, w, 3), np.float32)
    mask = np.zeros((h, w), np.uint8)
    fields: dict[tuple[str, bool], np.ndarray] = {}
    for part in spec.parts:
        px = np.stack([(part.poly[:, 0] - x_min) * s, (y_max - part.poly[:, 1]) * s], 1)
        x0, y0 = max(0, int(px[:, 0].min())), max(0, int(px[:, 1].min()))
        x1, y1 = min(w, int(px[:, 0].max()) + 2), min(h, int(px[:, 1].max()) + 2)
        if x1 <= x0 or y1 <= y0:
            continue
        local = np.zeros((y1 - y0, x1 - x0), np.uint8)
        pts = np.round((px - (x0, y0)) * 16).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(local, [pts], 255, lineType=cv2.LINE_8, shift=4)  # exact: no anti-aliasing
        inside = local > 0
        if not inside.any():
            continue
        material, bright, grad, edge_k, edge_cm = _ROLES[part.role]
        base, texture = _material(spec, material)
        vertical = (y1 - y0) > 1.5 * (x1 - x0)
        key = (texture, vertical and texture == "wood_grain")
        if texture != "metal" and key not in fields:
            fields[key] = _texture_field(texture, spec, s, h, w, rng, vertical=key[1])
        ph, pw = local.shape
        v = (np.arange(ph, dtype=np.float32)[:, None] + 0.5) / ph
        u = (np.arange(pw, dtype=np.float32)[None, :] + 0.5) / pw
        lum = bright * (1 + grad * (0.5 - v)) * (1 + 0.05 * (0.5 - (u * pw + x0) / w))
        if edge_k > 0:
            dist = cv2.distanceTransform(np.pad(local, 1), cv2.DIST_L2, 3)[1:-1, 1:-1] / s
            lum = lum * (1 - edge_k * np.exp(-dist / edge_cm))
        add = np.zeros_like(lum)
        if texture == "metal":
            # A cylinder's specular stripe; a flat handle just catches a top edge.
            if vertical:
                add = 70 * np.exp(-((u - 0.3) / 0.12) ** 2)
            else:
                add = 50 * np.exp(-((v - 0.25) / 0.2) ** 2)
        else:
            lum = lum * fields[key][y0:y1, x0:x1]
        if texture == "leather" or part.role == "ceramic":
            add = add + 45 * np.exp(-((v - 0.22) / 0.10) ** 2) * np.exp(-((u - 0.4) / 0.35) ** 2)
        colour = base[None, None, :] * lum[..., None] + add[..., None]
        region = image[y0:y1, x0:x1]
        region[inside] = colour[inside]
        mask[y0:y1, x0:x1][inside] = 255
    image = np.clip(image, 0, PRODUCT_MAX)
    image[mask == 0] = 0
    return np.round(image).astype(np.uint8), mask


def tight_box(mask: np.ndarray) -> list[int]:
    """Half-open ``[x0, y0, x1, y1]`` of the non-zero pixels (all zeros: ``[0, 0, 0, 0]``)."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return [0, 0, 0, 0]
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def render_unstaged(spec: ProductSpec, rng: Rng,
                    size: int = 256) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The catalogue photo: the product centred on white, its larger side 60-85% of ``size``.

    Returns (BGR uint8 image, mask uint8 255 = product, tight half-open box).
    """
    w_cm, h_cm = spec.size_cm
    scale = rng.uniform(0.60, 0.85) * size / max(w_cm, h_cm)
    sprite, smask = render_product(spec, scale, rng)
    sh, sw = smask.shape
    if sh > size or sw > size:
        raise ValueError(f"sprite {sw}x{sh} does not fit a {size}px canvas")
    y0, x0 = (size - sh) // 2, (size - sw) // 2
    # Faint sensor noise: a backdrop of exactly 255 is a tell-tale of synthetic data.
    noise = rng.normal(0, 0.7, (size, size, 1)).astype(np.float32)
    image = 255 - np.abs(noise).repeat(3, axis=2)
    mask = np.zeros((size, size), np.uint8)
    mask[y0:y0 + sh, x0:x0 + sw] = smask
    product = np.zeros_like(image)
    product[y0:y0 + sh, x0:x0 + sw] = sprite
    product = np.clip(product + noise, 0, PRODUCT_MAX + 1)
    image = np.where(mask[..., None] > 0, product, image)
    return np.round(image).astype(np.uint8), mask, tight_box(mask)
