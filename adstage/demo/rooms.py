"""Demo rooms: a wall, a floor in perspective and a product standing on it with a contact shadow.

One pinhole camera (horizon row, focal length, eye height) draws the floor pattern and decides
how big a product may look where it stands: an object whose base is at image row ``y`` is drawn
at ``(y - horizon) / eye_height`` pixels per centimetre, so scale and floor always agree.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from adstage.demo.products import tight_box

Rng = np.random.Generator

WALLS: dict[str, tuple[int, int, int]] = {  # RGB
    "warm white": (236, 231, 222), "greige": (200, 192, 180), "sage": (178, 190, 170),
    "dusty blue": (170, 186, 202), "terracotta": (202, 152, 126), "charcoal": (92, 94, 98),
    "blush": (224, 200, 192), "olive": (152, 150, 116),
}
FLOORS: dict[str, dict[str, tuple[int, int, int]]] = {  # kind -> name -> RGB
    "wood_planks": {"oak": (188, 146, 102), "walnut": (112, 76, 52), "ash": (172, 164, 150),
                    "honey": (206, 160, 102)},
    "tiles": {"white": (226, 224, 218), "terracotta": (176, 100, 72), "slate": (96, 100, 106),
              "sand": (206, 192, 166)},
    "carpet": {"grey": (150, 150, 148), "beige": (192, 178, 152), "blue": (92, 110, 140),
               "moss": (118, 128, 96)},
}
RUGS = ((150, 60, 52), (60, 80, 120), (200, 190, 170), (90, 110, 80), (170, 140, 90), (70, 70, 72))
LEAVES = ((52, 110, 60), (70, 130, 70), (40, 90, 52), (96, 140, 72))
POTS = ((186, 100, 70), (230, 228, 222), (70, 72, 76), (200, 180, 150))


@dataclass(frozen=True)
class Room:
    """An empty room image and the camera that drew it."""

    image: np.ndarray       # BGR uint8 (H, W, 3)
    horizon_y: float        # image row of the horizon (eye level)
    floor_y: int            # first floor row: where wall meets floor
    eye_cm: float           # camera height above the floor
    cx: float               # column of the vanishing point
    floor_kind: str         # key of FLOORS
    floor_name: str
    wall: str               # key of WALLS
    decor: tuple[str, ...]  # wall decor drawn so far ("window", "picture")

    def scale_at(self, y: float) -> float:
        """Pixels per centimetre of an object whose base stands on floor row ``y``."""
        return (y - self.horizon_y) / self.eye_cm


@dataclass(frozen=True)
class Placement:
    """Where a product stands: its scale, horizontal centre and the row just below its base.

    With ``lift_cm`` > 0 the product stands on a side table of that height whose feet are on
    floor row ``y_floor``; otherwise ``y_floor == y_bottom``.
    """

    px_per_cm: float
    x_center: float
    y_bottom: int
    y_floor: int
    lift_cm: float = 0.0


@dataclass(frozen=True)
class Staged:
    image: np.ndarray       # BGR uint8
    mask: np.ndarray        # uint8, 255 = product pixels (decor is never in it)
    box: list[int]          # half-open tight box of mask
    decor: tuple[str, ...]  # everything drawn besides wall, floor and product


def _bgr(rgb: tuple[int, int, int]) -> np.ndarray:
    return np.array(rgb[::-1], np.float32)


def _lowfreq(rng: Rng, h: int, w: int, cell: float) -> np.ndarray:
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    return cv2.resize(rng.standard_normal((gh, gw)).astype(np.float32), (w, h),
                      interpolation=cv2.INTER_CUBIC)


def _hash(table: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-cell random value in [-1, 1] for integer cell coordinates (plank, tile)."""
    idx = (a.astype(np.int64) * 73856093) ^ (b.astype(np.int64) * 19349663)
    return table[idx & (len(table) - 1)]


def _floor(rng: Rng, kind: str, rgb: tuple[int, int, int], w: int, h: int, floor_y: int,
           horizon_y: float, eye_cm: float, focal: float, cx: float) -> np.ndarray:
    """Floor rows ``floor_y..h`` as float BGR, patterned in world centimetres.

    Drawn at 2x and averaged down: plank gaps and grout get thinner than a pixel with distance.
    """
    ss = 2
    ys = (np.arange(floor_y * ss, h * ss, dtype=np.float32) + 0.5) / ss
    xs = (np.arange(w * ss, dtype=np.float32) + 0.5) / ss
    depth = (eye_cm / (ys - horizon_y))[:, None]         # cm of floor per pixel
    X = (xs[None, :] - cx) * depth                       # across, cm
    Z = np.broadcast_to(focal * depth, X.shape)          # away from the camera, cm
    table = rng.uniform(-1, 1, 4096).astype(np.float32)
    if kind == "wood_planks":
        pw, pl = rng.uniform(14, 20), rng.uniform(110, 180)
        col = np.floor(X / pw)
        shift = (_hash(table, col, np.full_like(col, 7)) + 1) * pl  # staggered plank ends
        row = np.floor((Z + shift) / pl)
        tone = 1 + 0.09 * _hash(table, col, row)
        grain = 1 + 0.04 * np.sin(2 * np.pi * (X / pw * 5 + 0.4 * np.sin(Z / 37 + col)))
        gap = ((X / pw) % 1 < 0.4 / pw) | (((Z + shift) / pl) % 1 < 0.5 / pl)
        lum = tone * grain * np.where(gap, 0.55, 1.0)
    elif kind == "tiles":
        ts = rng.uniform(30, 60)
        a, b = np.floor(X / ts), np.floor(Z / ts)
        tone = 1 + 0.04 * _hash(table, a, b)
        if rng.uniform() < 0.35:  # checkerboard
            tone = tone * np.where((a + b) % 2 == 0, 1.0, 0.72)
        grout = ((X / ts) % 1 < 0.6 / ts) | ((Z / ts) % 1 < 0.6 / ts)
        lum = tone * np.where(grout, 0.8, 1.0)
    else:
        lum = np.ones_like(X)
    lum = lum.astype(np.float32)
    out = _bgr(rgb)[None, None, :] * lum[..., None]
    out = cv2.resize(out, (w, h - floor_y), interpolation=cv2.INTER_AREA)
    if kind == "carpet":  # pile is screen-space fine noise; perspective hardly shows in it
        out *= (1 + 0.05 * rng.standard_normal((h - floor_y, w, 1)) +
                0.03 * _lowfreq(rng, h - floor_y, w, 40)[..., None]).astype(np.float32)
    rows = np.arange(h - floor_y, dtype=np.float32)[:, None, None]
    return out * (1 - 0.18 * np.exp(-rows / 10))  # ambient occlusion where floor meets wall


def _window(img: np.ndarray, x0: int, x1: int, y0: int, y1: int) -> None:
    t = np.linspace(0, 1, y1 - y0, dtype=np.float32)[:, None, None]
    img[y0:y1, x0:x1] = _bgr((160, 196, 232)) * (1 - t) + _bgr((226, 236, 244)) * t  # sky
    frame = (245, 245, 242)
    fw = max(3, (x1 - x0) // 18)
    cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), frame, fw)
    cv2.line(img, ((x0 + x1) // 2, y0), ((x0 + x1) // 2, y1 - 1), frame, max(2, fw - 1))
    ym = y0 + (y1 - y0) * 2 // 5
    cv2.line(img, (x0, ym), (x1 - 1, ym), frame, max(2, fw - 1))
    img[y1:y1 + 5, x0 - 6:x1 + 6] = (232, 232, 228)  # sill
    img[y1 + 5:y1 + 7, x0 - 6:x1 + 6] *= 0.8


def _picture(img: np.ndarray, rng: Rng, x0: int, x1: int, y0: int, y1: int) -> None:
    """A framed abstract print: frame, white mat, a few flat shapes."""
    frame = [(30, 30, 30), (60, 100, 140), (60, 150, 190)][int(rng.integers(3))]
    fw = max(3, (x1 - x0) // 14)
    mat = fw + max(3, (x1 - x0) // 10)
    art = np.empty((y1 - y0 - 2 * mat, x1 - x0 - 2 * mat, 3), np.float32)
    ah, aw = art.shape[:2]
    art[:] = rng.integers(40, 230, 3)
    for _ in range(3):
        colour = tuple(int(c) for c in rng.integers(40, 230, 3))
        cx, cy = int(rng.integers(0, aw)), int(rng.integers(0, ah))
        if rng.uniform() < 0.5:
            radius = int(rng.integers(3, max(4, aw // 3)))
            cv2.circle(art, (cx, cy), radius, colour, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(art, (cx, cy), (cx + int(rng.integers(4, 30)), ah - 1), colour, -1)
    img[y0:y1, x0:x1] = frame
    img[y0 + fw:y1 - fw, x0 + fw:x1 - fw] = (238, 238, 236)
    img[y0 + mat:y1 - mat, x0 + mat:x1 - mat] = art
    img[y1:y1 + 2, x0 + 2:x1 + 2] *= 0.82  # the frame stands off the wall


def render_room(rng: Rng, size: tuple[int, int] = (512, 384)) -> Room:
    """An empty room of ``size`` = (width, height): wall, baseboard, floor, maybe window/picture."""
    w, h = size
    horizon = h * rng.uniform(0.30, 0.40)
    floor_y = int(h * rng.uniform(0.56, 0.64))
    eye_cm, focal, cx = rng.uniform(100, 130), w * rng.uniform(0.8, 1.0), w * rng.uniform(0.4, 0.6)
    wall = sorted(WALLS)[int(rng.integers(len(WALLS)))]
    kind = sorted(FLOORS)[int(rng.integers(len(FLOORS)))]
    floor_name = sorted(FLOORS[kind])[int(rng.integers(len(FLOORS[kind])))]

    img = np.empty((h, w, 3), np.float32)
    wall_lum = 1 + 0.008 * _lowfreq(rng, floor_y, w, 120)
    if rng.uniform() < 0.25:  # faint striped wallpaper
        period = rng.uniform(14, 30)
        wall_lum *= 1 + 0.025 * np.sign(np.sin(2 * np.pi * np.arange(w) / period))[None, :]
    img[:floor_y] = _bgr(WALLS[wall]) * wall_lum[..., None]
    img[floor_y:] = _floor(rng, kind, FLOORS[kind][floor_name], w, h, floor_y, horizon, eye_cm,
                           focal, cx)

    decor: list[str] = []
    ww = int(w * rng.uniform(0.18, 0.26))
    free = (8, w - 8)  # wall span still free for a picture
    if rng.uniform() < 0.45:
        x0 = int(rng.integers(10, w - ww - 10))
        top = int(h * rng.uniform(0.06, 0.12))
        _window(img, x0, x0 + ww, top, floor_y - int(h * rng.uniform(0.16, 0.22)))
        decor.append("window")
        free = (8, x0 - 16) if x0 - 8 > w - (x0 + ww) - 8 else (x0 + ww + 16, w - 8)
    pw = int(ww * rng.uniform(0.45, 0.7))
    ph = int(pw * rng.uniform(0.75, 1.3))
    y0 = int(h * rng.uniform(0.08, 0.14))
    if rng.uniform() < 0.5 and free[1] - free[0] > pw and y0 + ph < floor_y - 20:
        x0 = int(rng.integers(free[0], free[1] - pw + 1))
        _picture(img, rng, x0, x0 + pw, y0, y0 + ph)
        decor.append("picture")

    bb = max(4, int(h * rng.uniform(0.018, 0.03)))  # baseboard
    board = _bgr((240, 240, 236)) if rng.uniform() < 0.7 else _bgr(WALLS[wall]) * 0.85
    img[floor_y - bb:floor_y] = board
    img[floor_y - bb] = board * 1.04
    img[floor_y - 1] = board * 0.8
    # Light comes from one side of the room: a gentle left-right falloff over everything.
    side = np.linspace(1.04, 0.94, w, dtype=np.float32)
    img *= (side if rng.uniform() < 0.5 else side[::-1])[None, :, None]
    img = np.clip(img, 0, 255).round().astype(np.uint8)
    return Room(img, float(horizon), floor_y, float(eye_cm), float(cx), kind, floor_name, wall,
                tuple(decor))


def plan_placement(room: Room, size_cm: tuple[float, float], rng: Rng, margin: int = 6,
                   lift_cm: float = 0.0) -> Placement:
    """Pick where the product stands so that it is large, on the floor and wholly in frame.

    ``lift_cm`` stands it on a side table of that height (a table lamp on the floor looks wrong).
    """
    h, w = room.image.shape[:2]
    w_cm, h_cm = max(size_cm[0], _SIDE_TABLE_MIN_CM if lift_cm else 0), size_cm[1] + lift_cm
    y_lo = room.floor_y + 0.15 * (h - room.floor_y)
    # Limits on the scale: frame width, and the top of a tall product staying in frame
    # (the top sits at y - h_cm * s with s = (y - horizon) / eye).
    s_max = 0.85 * w / w_cm
    if h_cm > room.eye_cm:
        s_max = min(s_max, (room.horizon_y - margin) / (h_cm - room.eye_cm))
    y_hi = min(h - margin, room.horizon_y + room.eye_cm * s_max)
    if y_hi <= y_lo:  # the room is too small for this product: stand it at the front anyway
        y_bottom = int(y_lo)
        scale = min(s_max, (y_bottom - margin) / h_cm)
    else:
        y_bottom = int(y_lo + (y_hi - y_lo) * rng.uniform(0.35, 1.0))
        scale = room.scale_at(y_bottom)
    scale = min(scale, (y_bottom - margin - 2) / h_cm, (w - 2 * margin - 2) / w_cm)
    slack = max(0.0, (w - w_cm * scale) / 2 - margin - 2)
    x_center = float(w / 2 + rng.uniform(-0.6, 0.6) * slack)
    lift_px = int(round(lift_cm * scale))
    return Placement(float(scale), x_center, y_bottom - lift_px, y_bottom, lift_cm)


_SIDE_TABLE_MIN_CM = 45.0


def _side_table(img: np.ndarray, place: Placement, product_w_cm: float, rng: Rng) -> None:
    """A small side table whose top is the product's floor (decor, outside the product mask)."""
    s = place.px_per_cm
    half = max(_SIDE_TABLE_MIN_CM, product_w_cm * 1.3) * s / 2
    x0, x1 = int(place.x_center - half), int(place.x_center + half)
    top, feet = place.y_bottom, place.y_floor
    colour = [(70, 100, 150), (235, 235, 232), (40, 40, 42), (110, 150, 196)][int(rng.integers(4))]
    dark = tuple(int(c * 0.72) for c in colour)
    foot = np.zeros(img.shape[:2], np.float32)
    cv2.ellipse(foot, ((x0 + x1) // 2, feet - 2), (int(half * 1.02), max(3, int(half * 0.12))),
                0, 0, 360, 0.45, -1, cv2.LINE_AA)
    img[:] = (img * (1 - cv2.GaussianBlur(foot, (0, 0), 3)[..., None])).round().astype(np.uint8)
    leg = max(2, int(3 * s))
    for lx in (x0 + leg, x1 - 2 * leg):
        cv2.rectangle(img, (lx, top), (lx + leg, feet - 1), colour, -1)
    shelf = (x0 + 2 * leg, top + int(4 * s)), (x1 - 2 * leg, top + int(12 * s))
    cv2.rectangle(img, *shelf, dark, -1)
    thick = max(2, int(3 * s))
    cv2.rectangle(img, (x0, top), (x1, top + thick), colour, -1)
    cv2.line(img, (x0, top + thick), (x1, top + thick), dark, 1)


def _rug(img: np.ndarray, room: Room, x_center: float, y_bottom: int, width_cm: float,
         rng: Rng) -> None:
    """A rectangular rug on the floor under the product, drawn in the room's perspective."""
    h = img.shape[0]
    y_back = max(room.floor_y + 3, y_bottom - int(rng.uniform(8, 25)))
    y_front = min(h - 1, y_bottom + int(rng.uniform(25, 70)))
    half = width_cm * rng.uniform(0.6, 0.75)
    X0 = (x_center - room.cx) / room.scale_at(y_bottom)  # world x of the product centre

    def corner(X: float, y: float) -> tuple[float, float]:
        return room.cx + X * room.scale_at(y), y

    def quad(inset_cm: float, inset_px: int) -> np.ndarray:
        left, right = X0 - half + inset_cm, X0 + half - inset_cm
        back, front = y_back + inset_px, y_front - inset_px
        pts = [corner(left, back), corner(right, back), corner(right, front), corner(left, front)]
        return np.round(np.array(pts) * 16).astype(np.int32).reshape(-1, 1, 2)

    colour = RUGS[int(rng.integers(len(RUGS)))]
    border = tuple(int(c * 0.7) for c in colour[::-1])
    cv2.fillPoly(img, [quad(0, 0)], border, cv2.LINE_AA, shift=4)
    cv2.fillPoly(img, [quad(8, 3)], colour[::-1], cv2.LINE_AA, shift=4)
    rug = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(rug, [quad(0, 0)], 255, cv2.LINE_8, shift=4)
    pile = 1 + 0.05 * rng.standard_normal(img.shape[:2]).astype(np.float32)
    piled = np.clip(img * pile[..., None], 0, 255)
    img[:] = np.where(rug[..., None] > 0, piled, img).astype(np.uint8)


def _plant(img: np.ndarray, x_center: float, y_bottom: int, height: int, rng: Rng) -> None:
    """A potted plant: trapezoid pot and a fan of leaves (decor, never part of the product)."""
    pot_h, pot_w = int(height * 0.32), int(height * 0.3)
    xc, yb = int(x_center), int(y_bottom)
    pot = POTS[int(rng.integers(len(POTS)))][::-1]
    top = yb - pot_h
    stem_top = (xc, top)
    for _ in range(int(rng.integers(9, 15))):
        angle = rng.uniform(-150, -30)
        length = height * rng.uniform(0.35, 0.68)
        rad = np.radians(angle)
        tip = (xc + np.cos(rad) * length * 0.55, top + np.sin(rad) * length)
        mid = ((stem_top[0] + tip[0]) / 2, (stem_top[1] + tip[1]) / 2)
        green = np.array(LEAVES[int(rng.integers(len(LEAVES)))][::-1]) * rng.uniform(0.8, 1.1)
        leaf = tuple(int(c) for c in green)
        cv2.line(img, stem_top, (int(mid[0]), int(mid[1])), (40, 80, 50), 1, cv2.LINE_AA)
        axis = (max(2, int(length * 0.32)), max(2, int(length * 0.09)))
        ang = float(np.degrees(np.arctan2(tip[1] - top, tip[0] - xc)))
        cv2.ellipse(img, (int(mid[0]), int(mid[1])), axis, ang, 0, 360, leaf, -1, cv2.LINE_AA)
    pts = np.array([(xc - pot_w // 2, top), (xc + pot_w // 2, top), (xc + pot_w * 2 // 5, yb),
                    (xc - pot_w * 2 // 5, yb)], np.int32)
    cv2.fillPoly(img, [pts], pot, cv2.LINE_AA)
    cv2.rectangle(img, (xc - pot_w // 2 - 1, top), (xc + pot_w // 2 + 1, top + max(2, pot_h // 8)),
                  tuple(int(c * 0.85) for c in pot), -1)


def _shadow(room_img: np.ndarray, mask: np.ndarray, box: list[int], floor_y: int,
            rng: Rng) -> np.ndarray:
    """Darken the room with a soft contact shadow under the product and a faint one on the wall."""
    h, w = mask.shape
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    shade = np.zeros((h, w), np.float32)
    # Footprint: an ellipse hugging the base, wider than deep because we look down on the floor.
    depth = 3 + bw * rng.uniform(0.05, 0.09)
    cv2.ellipse(shade, ((x0 + x1) // 2, int(y1 - depth * 0.45)), (int(bw * 0.52), int(depth)),
                0, 0, 360, 0.55, -1, cv2.LINE_AA)
    shade = cv2.GaussianBlur(shade, (0, 0), 2 + 0.03 * bw)
    # Contact: wherever the product touches down (feet, plinth) the floor goes dark.
    band = max(2, bh // 25)
    contact = np.zeros((h, w), np.float32)
    contact[y1 - band:y1] = mask[y1 - band:y1] / 255.0
    contact = np.roll(contact, 2, axis=0)
    shade += 0.5 * cv2.GaussianBlur(contact, (0, 0), 2.5)
    # The wall behind catches a blurred, offset silhouette.
    dx, dy = int(bw * rng.uniform(-0.05, 0.05)), int(bh * rng.uniform(0.02, 0.05))
    wall = np.roll(np.roll(mask.astype(np.float32) / 255.0, -dy, axis=0), dx, axis=1)
    wall = cv2.GaussianBlur(wall, (0, 0), 3 + 0.05 * bh) * 0.12
    wall[floor_y:] = 0
    shade = np.clip(shade + wall, 0, 0.75)
    return (room_img * (1 - shade[..., None])).round().astype(np.uint8)


def stage(room: Room, sprite: np.ndarray, sprite_mask: np.ndarray, placement: Placement,
          size_cm: tuple[float, float], rng: Rng, decorate: bool = True,
          rug: bool = True) -> Staged:
    """Stand the product sprite in the room at ``placement``; returns image, exact mask and box.

    ``decorate`` allows a plant beside the product and (if ``rug``) a rug under it.
    """
    h, w = room.image.shape[:2]
    sh, sw = sprite_mask.shape
    x0 = int(round(placement.x_center - sw / 2))
    x0 = min(max(x0, 1), w - sw - 1)
    y0 = placement.y_bottom - sh
    if x0 < 0 or y0 < 0 or x0 + sw > w or placement.y_bottom > h:
        raise ValueError(f"product {sw}x{sh} at ({x0}, {y0}) does not fit the {w}x{h} room")
    mask = np.zeros((h, w), np.uint8)
    mask[y0:placement.y_bottom, x0:x0 + sw] = sprite_mask
    box = tight_box(mask)
    img = room.image.copy()
    decor = list(room.decor)
    if decorate and rng.uniform() < 0.4 and rug:
        _rug(img, room, placement.x_center, placement.y_floor, max(size_cm[0], 60.0), rng)
        decor.append("rug")
    if decorate and rng.uniform() < 0.45:
        # Beside the product, never overlapping its box: the product mask stays the product.
        y_plant = placement.y_floor - int(rng.uniform(0, 12))
        p_h = int(room.scale_at(y_plant) * rng.uniform(60, 100))
        p_w = int(p_h * 0.75)
        taken = (box[0], box[2])
        if placement.lift_cm > 0:  # the side table's span too
            half = max(_SIDE_TABLE_MIN_CM, size_cm[0] * 1.3) * placement.px_per_cm / 2
            taken = (min(box[0], int(placement.x_center - half)),
                     max(box[2], int(placement.x_center + half) + 1))
        left, right = taken[0] - 8, w - taken[1] - 8
        if max(left, right) >= p_w and y_plant - p_h > 4 and y_plant > room.floor_y + 4:
            xc = taken[0] - 6 - p_w / 2 if left >= right else taken[1] + 6 + p_w / 2
            _plant(img, xc, y_plant, p_h, rng)
            decor.append("plant")
    if placement.lift_cm > 0:
        _side_table(img, placement, size_cm[0], rng)
        decor.append("side_table")
    img = _shadow(img, mask, box, room.floor_y, rng)
    region = img[y0:placement.y_bottom, x0:x0 + sw]
    region[sprite_mask > 0] = sprite[sprite_mask > 0]
    return Staged(img, mask, box, tuple(decor))
