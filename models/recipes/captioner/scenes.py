"""Shop-shelf scenes for the captioner: a spec generator, a pillow renderer and the English and Chinese
captions of a spec. Every scene has two groups of identical objects (left half, right half) and a sign
with a short word at the bottom. The held-out split is made of scenes with at least one (kind, colour)
pair that no training scene contains, so the model is tested on combinations it never saw."""
import random

from PIL import Image, ImageDraw, ImageFont

SIZE = 192  # rendered size; the image processor brings it down to the model's 80 x 80

KINDS = ["cup", "box", "bottle", "ball", "book"]
PLURAL = {"cup": "cups", "box": "boxes", "bottle": "bottles", "ball": "balls", "book": "books"}
KIND_ZH = {"cup": "杯子", "box": "盒子", "bottle": "瓶子", "ball": "球", "book": "书"}
MEASURE_ZH = {"cup": "个", "box": "个", "bottle": "个", "ball": "个", "book": "本"}
COLOURS = {
    "red": (200, 35, 35),
    "blue": (35, 70, 205),
    "green": (35, 150, 50),
    "yellow": (235, 205, 25),
    "purple": (135, 45, 165),
    "orange": (245, 135, 25),
}
COLOUR_ZH = {"red": "红色", "blue": "蓝色", "green": "绿色", "yellow": "黄色", "purple": "紫色", "orange": "橙色"}
COUNT_EN = {1: "one", 2: "two", 3: "three"}
COUNT_ZH = {1: "一", 2: "两", 3: "三"}
LABELS = ["SALE", "NEW", "FREE", "HOT", "-50%", "TOP"]
# (kind, colour) pairs that only held-out scenes contain: one per colour, every kind at least once.
HELD_OUT = {("cup", "green"), ("box", "red"), ("bottle", "yellow"), ("ball", "purple"), ("book", "orange"),
            ("cup", "blue")}
PROMPTS_EN = ["a photo of", "a shelf with", "this picture shows"]
PROMPTS_ZH = ["图中", "这张图片里"]


def random_group(rng):
    return {"kind": rng.choice(KINDS), "colour": rng.choice(list(COLOURS)), "count": rng.randint(1, 3)}


def is_held_out(spec):
    return any((g["kind"], g["colour"]) in HELD_OUT for g in (spec["left"], spec["right"]))


def random_spec(rng, held_out):
    """A scene spec for the split; held_out scenes contain at least one held-out pair, training ones none."""
    while True:
        spec = {"left": random_group(rng), "right": random_group(rng), "label": rng.choice(LABELS),
                "seed": rng.randrange(1 << 30)}
        if is_held_out(spec) == held_out:
            return spec


def caption_en(spec):
    def group(g, side):
        n = g["count"]
        noun = g["kind"] if n == 1 else PLURAL[g["kind"]]
        return "%s %s %s on the %s" % (COUNT_EN[n], g["colour"], noun, side)
    return "%s, %s, sign %s" % (group(spec["left"], "left"), group(spec["right"], "right"), spec["label"])


def caption_zh(spec):
    def group(g, side):
        return "%s边有%s%s%s%s" % (side, COUNT_ZH[g["count"]], MEASURE_ZH[g["kind"]], COLOUR_ZH[g["colour"]],
                                  KIND_ZH[g["kind"]])
    return "%s，%s，标牌写着%s" % (group(spec["left"], "左"), group(spec["right"], "右"), spec["label"])


def _shade(rgb, rng, spread=18):
    return tuple(max(0, min(255, c + rng.randint(-spread, spread))) for c in rgb)


def _darker(rgb, f=0.6):
    return tuple(int(c * f) for c in rgb)


def _draw_object(d, kind, x, y, w, h, fill):
    """One object with its bounding box at (x, y) and size (w, h)."""
    edge = _darker(fill)
    if kind == "cup":
        d.polygon([(x, y), (x + w * 0.75, y), (x + w * 0.65, y + h), (x + w * 0.1, y + h)], fill=fill, outline=edge)
        d.arc([x + w * 0.55, y + h * 0.2, x + w, y + h * 0.65], -90, 90, fill=edge, width=3)
    elif kind == "box":
        d.rectangle([x, y + h * 0.2, x + w, y + h], fill=fill, outline=edge, width=2)
        d.line([x, y + h * 0.45, x + w, y + h * 0.45], fill=edge, width=2)
    elif kind == "bottle":
        d.rectangle([x + w * 0.2, y + h * 0.35, x + w * 0.8, y + h], fill=fill, outline=edge, width=2)
        d.rectangle([x + w * 0.38, y, x + w * 0.62, y + h * 0.35], fill=fill, outline=edge, width=2)
    elif kind == "ball":
        r = min(w, h) / 2
        cx, cy = x + w / 2, y + h - r
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill, outline=edge, width=2)
    elif kind == "book":
        d.rectangle([x + w * 0.1, y, x + w * 0.9, y + h], fill=fill, outline=edge, width=2)
        d.rectangle([x + w * 0.1, y, x + w * 0.28, y + h], fill=edge)
    else:
        raise ValueError(kind)


_FONT = None


def _font():
    global _FONT
    if _FONT is None:
        _FONT = ImageFont.load_default(size=24)  # Pillow's bundled font: the same glyphs on every machine
    return _FONT


def render(spec):
    """The scene as a SIZE x SIZE RGB image; the same spec always gives the same pixels."""
    rng = random.Random(spec["seed"])
    bg = _shade((226, 220, 205), rng, 22)
    img = Image.new("RGB", (SIZE, SIZE), bg)
    d = ImageDraw.Draw(img)
    shelf_y = rng.randint(112, 122)
    d.rectangle([0, shelf_y, SIZE, shelf_y + 6], fill=_shade((150, 110, 70), rng))
    for side, g in (("left", spec["left"]), ("right", spec["right"])):
        x0 = 4 if side == "left" else SIZE // 2 + 4
        n = g["count"]
        slot = (SIZE // 2 - 8) // 3
        w = rng.randint(20, 26)
        h = rng.randint(30, 42)
        start = x0 + rng.randint(0, (3 - n) * slot)
        fill = _shade(COLOURS[g["colour"]], rng)
        for i in range(n):
            x = start + i * slot + rng.randint(0, slot - w)
            _draw_object(d, g["kind"], x, shelf_y - h, w, h, fill)
    font = _font()
    text = spec["label"]
    left, top, right, bottom = d.textbbox((0, 0), text, font=font)
    tw, th = right - left, bottom - top
    cx = SIZE // 2 + rng.randint(-30, 30)
    ty = rng.randint(138, SIZE - th - 16)
    d.rectangle([cx - tw // 2 - 6, ty - 5, cx + tw // 2 + 6, ty + th + 7], fill=(250, 250, 250),
                outline=(60, 60, 60), width=2)
    d.text((cx - tw // 2 - left, ty - top), text, fill=(20, 20, 20), font=font)
    return img
