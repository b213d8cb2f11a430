"""Seeded generator of structured English phrases with exact Chinese (Simplified), German and French references.

A *template* is a (category, frame, value-format) triple, e.g. ("date", "delivery on {d}", "weekday day month").
Train and test use disjoint template sets (the test templates are frame/format pairings never seen in training,
while every frame and every format occurs in training with other partners), and disjoint slot values
(each value is hashed into exactly one split).

Usage: python3 gen_data.py OUT_DIR [N_TRAIN] [N_AUG]   (writes train.jsonl, heldout.jsonl and novel.jsonl, and with
N_AUG > 0 also train_aug.jsonl and train_p4.jsonl: the phase-3 and phase-4 data with the training-only frames below)
"""
import datetime
import hashlib
import json
import os
import random
import sys

LANGS = ["zho", "deu", "fra"]
TEST_PERCENT = 20  # share of slot values hashed into the test split


def h100(*key):
    return int(hashlib.md5(repr(key).encode("utf-8")).hexdigest(), 16) % 100


def value_split(*key):
    return "test" if h100("value", *key) < TEST_PERCENT else "train"


# ---------------------------------------------------------------- number formatting
def group(n, sep):
    s = str(n)
    out = []
    while len(s) > 3:
        out.insert(0, s[-3:])
        s = s[:-3]
    out.insert(0, s)
    return sep.join(out)


def fmt_int(n, lang):
    """Integers: en 1,234,567 / zh 1234567 / de 1.234.567 / fr 1 234 567."""
    if lang == "en":
        return group(n, ",")
    if lang == "zho":
        return str(n)
    if lang == "deu":
        return group(n, ".")
    return group(n, " ")


def fmt_dec(cents_or_tenths, places, lang):
    """Fixed-point decimal given as an integer count of 10**-places units."""
    ip, fp = divmod(cents_or_tenths, 10 ** places)
    frac = str(fp).rjust(places, "0")
    point = "." if lang in ("en", "zho") else ","
    return fmt_int(ip, lang) + point + frac


# ---------------------------------------------------------------- dates
WEEKDAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "zho": ["星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"],
    "deu": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
    "fra": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
}
MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
    "deu": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
            "November", "Dezember"],
    "fra": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
            "novembre", "décembre"],
}
DATE_FORMATS = ["wd_d_m", "d_m", "d_m_y", "wd_d_m_y", "m_d", "m_d_y"]


def fmt_date(dt, fmt, lang):
    wd = WEEKDAYS[lang][dt.weekday()]
    has_wd = fmt.startswith("wd")
    has_y = fmt.endswith("_y")
    if lang == "en":
        if fmt.startswith("m_d"):
            s = "%s %d" % (MONTHS["en"][dt.month - 1], dt.day)
            return s + (", %d" % dt.year if has_y else "")
        s = "%d %s" % (dt.day, MONTHS["en"][dt.month - 1])
        if has_y:
            s += " %d" % dt.year
        return (wd + " " + s) if has_wd else s
    if lang == "zho":
        s = "%d月%d日" % (dt.month, dt.day)
        if has_y:
            s = "%d年" % dt.year + s
        return s + wd if has_wd else s
    if lang == "deu":
        s = "%d. %s" % (dt.day, MONTHS["deu"][dt.month - 1])
        if has_y:
            s += " %d" % dt.year
        return (wd + ", " + s) if has_wd else s
    day = "1er" if dt.day == 1 else str(dt.day)
    s = "%s %s" % (day, MONTHS["fra"][dt.month - 1])
    if has_y:
        s += " %d" % dt.year
    return (wd + " " + s) if has_wd else s


def sample_date(rng, split):
    while True:
        dt = datetime.date(2020, 1, 1) + datetime.timedelta(days=rng.randrange(0, 366 * 16))
        if value_split("date", dt.month, dt.day) == split:
            return dt


# ---------------------------------------------------------------- times
TIME_FORMATS = ["t24", "t12", "t12h"]


def fmt_time(t, fmt, lang):
    h, m = t
    if lang == "en":
        if fmt == "t24":
            return "%d:%02d" % (h, m)
        if fmt == "t12h":
            return "%d %s" % (h % 12, "am" if h < 12 else "pm")
        return "%d:%02d %s" % (h % 12, m, "am" if h < 12 else "pm")
    if lang == "zho":
        if fmt == "t24":
            return "%d:%02d" % (h, m)
        if fmt == "t12h":
            return "%s%d点" % ("上午" if h < 12 else "下午", h % 12)
        return "%s%d:%02d" % ("上午" if h < 12 else "下午", h % 12, m)
    if lang == "deu":
        return "%d Uhr" % h if fmt == "t12h" else "%d:%02d Uhr" % (h, m)
    return "%dh" % h if fmt == "t12h" else "%dh%02d" % (h, m)


def sample_time(rng, split, fmt):
    while True:
        h = rng.randrange(0, 24)
        if fmt in ("t12", "t12h") and h in (0, 12):
            continue
        m = 0 if fmt == "t12h" else rng.choice([0, 15, 30, 45, rng.randrange(60)])
        if value_split("time", h, m) == split:
            return (h, m)


# ---------------------------------------------------------------- durations
# unit: en sg/pl, zh suffix, de nominative sg/pl, de dative sg/pl, fr sg/pl, max n
DUR_UNITS = {
    "minute": ("minute", "minutes", "分钟", "Minute", "Minuten", "Minute", "Minuten", "minute", "minutes", 120),
    "hour": ("hour", "hours", "小时", "Stunde", "Stunden", "Stunde", "Stunden", "heure", "heures", 72),
    "day": ("day", "days", "天", "Tag", "Tage", "Tag", "Tagen", "jour", "jours", 90),
    "week": ("week", "weeks", "周", "Woche", "Wochen", "Woche", "Wochen", "semaine", "semaines", 52),
    "month": ("month", "months", "个月", "Monat", "Monate", "Monat", "Monaten", "mois", "mois", 36),
}
DUR_FORMATS = ["minute", "hour", "day", "week", "month", "h_m"]


def dur_unit(n, unit, lang, case):
    u = DUR_UNITS[unit]
    sg = n == 1
    if lang == "en":
        return "%d %s" % (n, u[0] if sg else u[1])
    if lang == "zho":
        return "%d%s" % (n, u[2])
    if lang == "deu":
        if case == "dat":
            return "%d %s" % (n, u[5] if sg else u[6])
        return "%d %s" % (n, u[3] if sg else u[4])
    return "%d %s" % (n, u[7] if n < 2 else u[8])


def fmt_dur(v, lang, case="nom"):
    if v[0] == "h_m":
        _, h, m = v
        a, b = dur_unit(h, "hour", lang, case), dur_unit(m, "minute", lang, case)
        joiner = {"en": " and ", "zho": "", "deu": " und ", "fra": " et "}[lang]
        return a + joiner + b
    return dur_unit(v[1], v[0], lang, case)


def sample_dur(rng, split, fmt):
    while True:
        if fmt == "h_m":
            v = ("h_m", rng.randrange(1, 24), rng.randrange(1, 60))
        else:
            mx = DUR_UNITS[fmt][9]
            n = 1 if rng.random() < 0.12 else rng.randrange(1, mx + 1)
            v = (fmt, n)
        if value_split("dur", *v) == split:
            return v


# ---------------------------------------------------------------- prices
CURRENCIES = {  # en prefix, zh suffix, de/fr suffix
    "EUR": ("€", "欧元", "€"),
    "USD": ("$", "美元", "$"),
    "GBP": ("£", "英镑", "£"),
    "CHF": ("CHF ", "瑞士法郎", "CHF"),
}
PRICE_FORMATS = ["EUR", "USD", "GBP", "CHF"]


def fmt_price(v, lang):
    cur, cents, whole = v
    amount = fmt_int(cents // 100, "en" if lang == "en" else lang) if whole else fmt_dec(cents, 2, lang)
    en, zh, eu = CURRENCIES[cur]
    if lang == "en":
        return en + amount
    if lang == "zho":
        return amount + zh
    return amount + " " + eu


def sample_price(rng, split, cur):
    while True:
        mag = rng.choice([100, 1000, 10000, 100000, 1000000, 10000000])
        cents = rng.randrange(1, mag)
        whole = rng.random() < 0.3
        if whole:
            cents = max(100, cents - cents % 100)
        if value_split("price", cur, cents) == split:
            return (cur, cents, whole)


# ---------------------------------------------------------------- quantities
# units: en sg, en pl, zh, de, fr sg, fr pl
UNITS = {
    "kilogram": ("kilogram", "kilograms", "公斤", "Kilogramm", "kilogramme", "kilogrammes"),
    "gram": ("gram", "grams", "克", "Gramm", "gramme", "grammes"),
    "litre": ("litre", "litres", "升", "Liter", "litre", "litres"),
    "millilitre": ("millilitre", "millilitres", "毫升", "Milliliter", "millilitre", "millilitres"),
    "metre": ("metre", "metres", "米", "Meter", "mètre", "mètres"),
    "centimetre": ("centimetre", "centimetres", "厘米", "Zentimeter", "centimètre", "centimètres"),
    "kilometre": ("kilometre", "kilometres", "公里", "Kilometer", "kilomètre", "kilomètres"),
}
ABBR = {"kilogram": "kg", "gram": "g", "litre": "l", "millilitre": "ml", "metre": "m", "centimetre": "cm",
        "kilometre": "km"}
# count nouns: en sg, en pl, zh measure word + noun, de sg, de pl, fr sg, fr pl
NOUNS = {
    "bottle": ("bottle of water", "bottles of water", "瓶水", "Flasche Wasser", "Flaschen Wasser",
               "bouteille d'eau", "bouteilles d'eau"),
    "tea": ("box of tea", "boxes of tea", "盒茶", "Schachtel Tee", "Schachteln Tee", "boîte de thé",
            "boîtes de thé"),
    "book": ("book", "books", "本书", "Buch", "Bücher", "livre", "livres"),
    "shirt": ("shirt", "shirts", "件衬衫", "Hemd", "Hemden", "chemise", "chemises"),
    "shoes": ("pair of shoes", "pairs of shoes", "双鞋", "Paar Schuhe", "Paar Schuhe", "paire de chaussures",
              "paires de chaussures"),
    "cup": ("cup", "cups", "个杯子", "Tasse", "Tassen", "tasse", "tasses"),
    "umbrella": ("umbrella", "umbrellas", "把雨伞", "Regenschirm", "Regenschirme", "parapluie", "parapluies"),
    "chair": ("chair", "chairs", "把椅子", "Stuhl", "Stühle", "chaise", "chaises"),
    "pen": ("pen", "pens", "支笔", "Stift", "Stifte", "stylo", "stylos"),
    "rice": ("bag of rice", "bags of rice", "袋大米", "Beutel Reis", "Beutel Reis", "sac de riz", "sacs de riz"),
    "lamp": ("lamp", "lamps", "盏灯", "Lampe", "Lampen", "lampe", "lampes"),
    "table": ("table", "tables", "张桌子", "Tisch", "Tische", "table", "tables"),
    "bicycle": ("bicycle", "bicycles", "辆自行车", "Fahrrad", "Fahrräder", "vélo", "vélos"),
    "apple": ("apple", "apples", "个苹果", "Apfel", "Äpfel", "pomme", "pommes"),
    "ticket": ("ticket", "tickets", "张票", "Ticket", "Tickets", "billet", "billets"),
}
QTY_FORMATS = ["unit_word", "unit_abbr", "noun"]


def fmt_qty(v, lang):
    kind, name, amount, places = v
    num = fmt_dec(amount, places, lang) if places else fmt_int(amount, lang)
    if kind == "noun":
        e = NOUNS[name]
        sg = amount == 1
        if lang == "en":
            return "%s %s" % (num, e[0] if sg else e[1])
        if lang == "zho":
            return num + e[2]
        if lang == "deu":
            return "%s %s" % (num, e[3] if sg else e[4])
        return "%s %s" % (num, e[5] if amount < 2 else e[6])
    u = UNITS[name]
    value = amount / (10 ** places)
    if lang == "zho":
        return num + u[2]
    if kind == "unit_abbr":
        return "%s %s" % (num, ABBR[name])
    if lang == "en":
        return "%s %s" % (num, u[0] if (value == 1 and not places) else u[1])
    if lang == "deu":
        return "%s %s" % (num, u[3])
    return "%s %s" % (num, u[4] if value < 2 else u[5])


def sample_qty(rng, split, fmt):
    while True:
        if fmt == "noun":
            name = rng.choice(sorted(NOUNS))
            amount = 1 if rng.random() < 0.15 else rng.randrange(1, rng.choice([10, 100, 1000, 100000]))
            places = 0
        else:
            name = rng.choice(sorted(UNITS))
            places = rng.choice([0, 0, 1, 2])
            if places == 0:
                amount = 1 if rng.random() < 0.1 else rng.randrange(1, rng.choice([10, 100, 1000, 10000]))
            else:
                amount = rng.randrange(1, rng.choice([10, 100, 1000, 10000]) * 10 ** places)
        if value_split("qty", name, amount, places) == split:
            return (fmt, name, amount, places)


# ---------------------------------------------------------------- ordinals
EN_ORD_WORDS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"]


def en_ord(n):
    if n % 100 in (11, 12, 13):
        return "%dth" % n
    return "%d%s" % (n, {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th"))


# name: en (with {o}), zh (with {n}), de (with {n}), fr (with {o}), fr gender
ORD_NOUNS = {
    "order": ("your {o} order", "您的第{n}个订单", "Ihre {n}. Bestellung", "votre {o} commande", "f"),
    "floor": ("the {o} floor", "{n}楼", "der {n}. Stock", "le {o} étage", "m"),
    "item": ("the {o} item", "第{n}件商品", "der {n}. Artikel", "le {o} article", "m"),
    "place": ("{o} place", "第{n}名", "{n}. Platz", "{o} place", "f"),
    "row": ("the {o} row", "第{n}排", "die {n}. Reihe", "la {o} rangée", "f"),
    "week": ("the {o} week", "第{n}周", "die {n}. Woche", "la {o} semaine", "f"),
    "anniversary": ("our {o} anniversary", "我们的{n}周年", "unser {n}. Jubiläum", "notre {o} anniversaire", "m"),
    "customer": ("our {o} customer", "我们的第{n}位顾客", "unser {n}. Kunde", "notre {o} client", "m"),
}
ORD_FORMATS = ["digits", "digits_large", "words"]


def fmt_ord(v, lang):
    fmt, noun, n = v
    e = ORD_NOUNS[noun]
    if lang == "en":
        o = EN_ORD_WORDS[n - 1] if fmt == "words" else en_ord(n)
        return e[0].format(o=o)
    if lang == "zho":
        return e[1].format(n=n)
    if lang == "deu":
        return e[2].format(n=n)
    o = ("1er" if e[4] == "m" else "1re") if n == 1 else "%de" % n
    return e[3].format(o=o)


def sample_ord(rng, split, fmt):
    while True:
        noun = rng.choice(sorted(ORD_NOUNS))
        n = {"words": lambda: rng.randrange(1, 11), "digits": lambda: rng.randrange(1, 31),
             "digits_large": lambda: rng.randrange(31, 1000)}[fmt]()
        if value_split("ord", noun, n) == split:
            return (fmt, noun, n)


# ---------------------------------------------------------------- counts (shop phrases)
COUNT_FORMATS = ["small", "medium", "large"]


def sample_count(rng, split, fmt):
    while True:
        if fmt == "small":
            n = 1 if rng.random() < 0.2 else rng.randrange(1, 100)
        elif fmt == "medium":
            n = rng.randrange(100, 10000)
        else:
            n = rng.randrange(10000, rng.choice([100000, 10000000]))
        if value_split("count", n) == split:
            return n


# ---------------------------------------------------------------- frames
# Each frame: (name, formats, render(values, lang) -> str, sampler(rng, split, fmt) -> values)
def L(en, zh, de, fr):
    return {"en": en, "zho": zh, "deu": de, "fra": fr}


def date_frames():
    texts = [
        L("{d}", "{d}", "{d}", "{d}"),
        L("delivery on {d}", "{d}送达", "Lieferung am {d}", "livraison le {d}"),
        L("arrives on {d}", "预计{d}到达", "kommt am {d} an", "arrive le {d}"),
        L("ordered on {d}", "下单于{d}", "bestellt am {d}", "commandé le {d}"),
        L("your order was shipped on {d}", "您的订单已于{d}发货", "Ihre Bestellung wurde am {d} versandt",
          "votre commande a été expédiée le {d}"),
        L("offer valid until {d}", "优惠有效期至{d}", "Angebot gültig bis {d}", "offre valable jusqu'au {d}"),
        L("returns accepted until {d}", "退货截止日期为{d}", "Rückgabe bis {d} möglich",
          "retours acceptés jusqu'au {d}"),
        L("next delivery slot: {d}", "下一个配送时段：{d}", "nächster Liefertermin: {d}",
          "prochain créneau de livraison : {d}"),
    ]
    out = []
    for i, t in enumerate(texts):
        def render(v, lang, t=t):
            dt, fmt = v
            return t[lang].format(d=fmt_date(dt, fmt, lang))

        def sampler(rng, split, fmt):
            return (sample_date(rng, split), fmt)
        out.append(("date%d" % i, DATE_FORMATS, render, sampler))
    return out


def time_frames():
    texts = [
        L("{t}", "{t}", "{t}", "{t}"),
        L("pickup at {t}", "{t}取货", "Abholung um {t}", "retrait à {t}"),
        L("the shop opens at {t}", "商店{t}开门", "der Laden öffnet um {t}", "le magasin ouvre à {t}"),
        L("the shop closes at {t}", "商店{t}关门", "der Laden schließt um {t}", "le magasin ferme à {t}"),
        L("order before {t} for same-day delivery", "{t}前下单可当日送达",
          "bis {t} bestellen für Lieferung am selben Tag", "commandez avant {t} pour une livraison le jour même"),
        L("your call is scheduled for {t}", "您的通话安排在{t}", "Ihr Anruf ist für {t} geplant",
          "votre appel est prévu à {t}"),
    ]
    return time_templates("time", texts)


def time_templates(prefix, texts):
    out = []
    for i, t in enumerate(texts):
        def render(v, lang, t=t):
            tm, fmt = v
            return t[lang].format(t=fmt_time(tm, fmt, lang))

        def sampler(rng, split, fmt):
            return (sample_time(rng, split, fmt), fmt)
        out.append(("%s%d" % (prefix, i), TIME_FORMATS, render, sampler))
    return out


def datetime_frames():
    texts = [
        L("delivery on {d} at {t}", "{d} {t}送达", "Lieferung am {d} um {t}", "livraison le {d} à {t}"),
        L("your appointment is on {d} at {t}", "您的预约时间为{d} {t}", "Ihr Termin ist am {d} um {t}",
          "votre rendez-vous est le {d} à {t}"),
        L("pickup on {d} from {t}", "{d} {t}起可取货", "Abholung am {d} ab {t}", "retrait le {d} à partir de {t}"),
    ]
    fmts = ["%s+%s" % (a, b) for a in ["wd_d_m", "d_m", "m_d"] for b in TIME_FORMATS]
    out = []
    for i, t in enumerate(texts):
        def render(v, lang, t=t):
            dt, tm, fmt = v
            dfmt, tfmt = fmt.split("+")
            return t[lang].format(d=fmt_date(dt, dfmt, lang), t=fmt_time(tm, tfmt, lang))

        def sampler(rng, split, fmt):
            return (sample_date(rng, split), sample_time(rng, split, fmt.split("+")[1]), fmt)
        out.append(("datetime%d" % i, fmts, render, sampler))
    return out


def duration_frames():
    texts = [  # (frame, German case)
        (L("{u}", "{u}", "{u}", "{u}"), "nom"),
        (L("your order ships in {u}", "您的订单将在{u}内发货", "Ihre Bestellung wird in {u} versandt",
           "votre commande sera expédiée dans {u}"), "dat"),
        (L("delivery takes {u}", "配送需要{u}", "die Lieferung dauert {u}", "la livraison prend {u}"), "nom"),
        (L("ready in {u}", "{u}后准备好", "fertig in {u}", "prêt dans {u}"), "dat"),
        (L("free returns within {u}", "{u}内免费退货", "kostenlose Rückgabe innerhalb von {u}",
           "retours gratuits sous {u}"), "dat"),
        (L("estimated wait: {u}", "预计等待时间：{u}", "voraussichtliche Wartezeit: {u}",
           "temps d'attente estimé : {u}"), "nom"),
    ]
    return duration_templates("dur", texts)


def duration_templates(prefix, texts):
    out = []
    for i, (t, case) in enumerate(texts):
        def render(v, lang, t=t, case=case):
            return t[lang].format(u=fmt_dur(v, lang, case))
        out.append(("%s%d" % (prefix, i), DUR_FORMATS, render, sample_dur))
    return out


def price_frames():
    texts = [
        L("{p}", "{p}", "{p}", "{p}"),
        L("total: {p}", "合计：{p}", "Gesamt: {p}", "total : {p}"),
        L("free delivery on orders over {p}", "订单满{p}免运费", "kostenloser Versand ab {p}",
          "livraison gratuite dès {p} d'achat"),
        L("you save {p}", "您节省了{p}", "Sie sparen {p}", "vous économisez {p}"),
        L("now only {p}", "现价仅{p}", "jetzt nur {p}", "maintenant seulement {p}"),
        L("shipping costs {p}", "运费为{p}", "der Versand kostet {p}", "la livraison coûte {p}"),
    ]
    out = []
    for i, t in enumerate(texts):
        def render(v, lang, t=t):
            return t[lang].format(p=fmt_price(v, lang))
        out.append(("price%d" % i, PRICE_FORMATS, render, sample_price))
    return out


QTY_TEXTS = [  # (frame, German case of the slot; None: no article form, "only a lamp left" is not a phrase)
    (L("{q}", "{q}", "{q}", "{q}"), "nom"),
    (L("add {q} to your basket", "将{q}加入购物车", "{q} in den Warenkorb legen", "ajouter {q} au panier"), "acc"),
    (L("only {q} left in stock", "库存仅剩{q}", "nur noch {q} auf Lager", "plus que {q} en stock"), None),
    (L("you ordered {q}", "您订购了{q}", "Sie haben {q} bestellt", "vous avez commandé {q}"), "acc"),
]


def qty_frames():
    return qty_templates("qty", [t for t, _ in QTY_TEXTS])


def qty_templates(prefix, texts):
    out = []
    for i, t in enumerate(texts):
        def render(v, lang, t=t):
            return t[lang].format(q=fmt_qty(v, lang))
        out.append(("%s%d" % (prefix, i), QTY_FORMATS, render, sample_qty))
    return out


def ord_frames():
    texts = [
        L("{x}", "{x}", "{x}", "{x}"),
        L("this is {x}", "这是{x}", "das ist {x}", "c'est {x}"),
        L("see {x}", "请查看{x}", "siehe {x}", "voir {x}"),
    ]
    out = []
    for i, t in enumerate(texts):
        def render(v, lang, t=t):
            return t[lang].format(x=fmt_ord(v, lang))
        out.append(("ord%d" % i, ORD_FORMATS, render, sample_ord))
    return out


def count_frames():
    # en sg/pl, zh, de sg/pl, fr sg/pl ({n} is the formatted count)
    texts = [
        ("{n} item in your basket", "{n} items in your basket", "购物车中有{n}件商品",
         "{n} Artikel in Ihrem Warenkorb", "{n} Artikel in Ihrem Warenkorb",
         "{n} article dans votre panier", "{n} articles dans votre panier"),
        ("{n} item selected", "{n} items selected", "已选择{n}件商品", "{n} Artikel ausgewählt",
         "{n} Artikel ausgewählt", "{n} article sélectionné", "{n} articles sélectionnés"),
        ("{n} item added to your basket", "{n} items added to your basket", "已将{n}件商品加入购物车",
         "{n} Artikel zum Warenkorb hinzugefügt", "{n} Artikel zum Warenkorb hinzugefügt",
         "{n} article ajouté au panier", "{n} articles ajoutés au panier"),
        ("{n} new message", "{n} new messages", "{n}条新消息", "{n} neue Nachricht", "{n} neue Nachrichten",
         "{n} nouveau message", "{n} nouveaux messages"),
        ("{n} open order", "{n} open orders", "{n}个未完成订单", "{n} offene Bestellung", "{n} offene Bestellungen",
         "{n} commande en cours", "{n} commandes en cours"),
        ("{n} customer", "{n} customers", "{n}位顾客", "{n} Kunde", "{n} Kunden", "{n} client", "{n} clients"),
        ("{n} review", "{n} reviews", "{n}条评价", "{n} Bewertung", "{n} Bewertungen", "{n} avis", "{n} avis"),
        ("{n} person viewed this item", "{n} people viewed this item", "{n}人浏览过此商品",
         "{n} Person hat diesen Artikel angesehen", "{n} Personen haben diesen Artikel angesehen",
         "{n} personne a consulté cet article", "{n} personnes ont consulté cet article"),
        ("{n} point", "{n} points", "{n}积分", "{n} Punkt", "{n} Punkte", "{n} point", "{n} points"),
    ]
    out = []
    for i, t in enumerate(texts):
        def render(n, lang, t=t):
            sg = n == 1
            if lang == "en":
                return (t[0] if sg else t[1]).format(n=fmt_int(n, "en"))
            if lang == "zho":
                return t[2].format(n=fmt_int(n, lang))
            if lang == "deu":
                return (t[3] if sg else t[4]).format(n=fmt_int(n, lang))
            return (t[5] if n < 2 else t[6]).format(n=fmt_int(n, lang))
        out.append(("count%d" % i, COUNT_FORMATS, render, sample_count))
    return out


def number_frames():
    texts = [
        L("{x}", "{x}", "{x}", "{x}"),
        L("rated {x} out of 5", "评分{x}（满分5分）", "mit {x} von 5 bewertet", "noté {x} sur 5"),
        L("discount of {x} percent", "折扣{x}%", "Rabatt von {x} Prozent", "remise de {x} pour cent"),
    ]
    fmts = ["int", "dec1", "dec2"]

    def sampler(rng, split, fmt):
        while True:
            if fmt == "int":
                v = ("int", rng.randrange(0, rng.choice([10, 100, 1000, 100000, 10000000])))
            elif fmt == "dec1":
                v = ("dec1", rng.randrange(0, rng.choice([100, 1000, 100000])))
            else:
                v = ("dec2", rng.randrange(0, rng.choice([1000, 10000, 1000000])))
            if value_split("num", *v) == split:
                return v
    out = []
    for i, t in enumerate(texts):
        def render(v, lang, t=t, i=i):
            kind, n = v
            x = fmt_int(n, lang) if kind == "int" else fmt_dec(n, 1 if kind == "dec1" else 2, lang)
            return t[lang].format(x=x)

        def samp(rng, split, fmt, i=i):
            # ratings and percentages stay in a plausible range
            while True:
                v = sampler(rng, split, fmt)
                if i == 1 and not ((v[0] == "int" and 0 <= v[1] <= 5) or (v[0] == "dec1" and v[1] <= 50)
                                   or (v[0] == "dec2" and v[1] <= 500)):
                    continue
                if i == 2 and not ((v[0] == "int" and 1 <= v[1] <= 90) or (v[0] == "dec1" and 1 <= v[1] <= 900)
                                   or (v[0] == "dec2" and 1 <= v[1] <= 9000)):
                    continue
                return v
        out.append(("num%d" % i, fmts, render, samp))
    return out


CATEGORIES = {
    "date": date_frames(),
    "time": time_frames(),
    "datetime": datetime_frames(),
    "duration": duration_frames(),
    "price": price_frames(),
    "quantity": qty_frames(),
    "ordinal": ord_frames(),
    "count": count_frames(),
    "number": number_frames(),
}
CAT_WEIGHTS = {"date": 3, "time": 2, "datetime": 2, "duration": 3, "price": 3, "quantity": 3, "ordinal": 2,
               "count": 3, "number": 2}


def template_splits():
    """(category, frame, format) -> 'train'|'test'. A pairing is held out only if its frame keeps >= 2 training
    formats and its format keeps >= 2 training frames, so every held-out template is a new combination of parts
    that were each seen in training in at least two other combinations."""
    split = {}
    for cat, frames in CATEGORIES.items():
        combos = [(cat, f[0], fmt) for f in frames for fmt in f[1]]
        for c in combos:
            split[c] = "train"
        for c in sorted(combos, key=lambda c: h100("template", *c)):
            if h100("template", *c) >= 30:
                continue
            f_train = sum(split[d] == "train" for d in combos if d[1] == c[1])
            m_train = sum(split[d] == "train" for d in combos if d[2] == c[2])
            if f_train > 2 and m_train > 2:
                split[c] = "test"
        if not any(split[c] == "test" for c in combos):  # every category gets a held-out template
            for c in sorted(combos, key=lambda c: h100("template", *c)):
                f_train = sum(split[d] == "train" for d in combos if d[1] == c[1])
                m_train = sum(split[d] == "train" for d in combos if d[2] == c[2])
                if f_train > 2 and m_train > 2:
                    split[c] = "test"
                    break
    return split


def make_row(cat, frame, fmt, v, lang):
    """One (source, reference) pair: the frame rendered with value v in English and in the target language."""
    name, _fmts, render, _sampler = frame
    return {"source": ">>%s<< %s" % (lang, render(v, "en")), "target_lang": lang, "reference": render(v, lang),
            "category": cat, "template": "%s/%s" % (name, fmt)}


def generate(split, n, seed, lang_list=LANGS):
    rng = random.Random(seed)
    tsplit = template_splits()
    pools = {}
    for cat, frames in CATEGORIES.items():
        pools[cat] = [(f, fmt) for f in frames for fmt in f[1] if tsplit[(cat, f[0], fmt)] == split]
    cats = [c for c in CATEGORIES if pools[c]]
    weights = [CAT_WEIGHTS[c] for c in cats]
    out = []
    for _ in range(n):
        cat = rng.choices(cats, weights)[0]
        frame, fmt = rng.choice(pools[cat])
        v = frame[3](rng, split, fmt)
        out.append(make_row(cat, frame, fmt, v, rng.choice(lang_list)))
    return out


# ---------------------------------------------------------------- training-only frames (phase 3 data)
# New frames that occur in training only, each paired with EVERY value format of its category, so the model sees
# many frames crossed with all formats and learns to compose frame and format. They never enter template_splits()
# (the test split and heldout.jsonl are unchanged), their English and target texts differ from every original
# frame's, and their values come from the same train-split value hashing. Added for the three categories whose
# held-out pairings failed: durations (German nominative vs. dative plural after the frame, e.g. `dauert 50 Tage`
# vs. `in 50 Tagen`; no original training template rendered a nominative plural day), times (Chinese frames
# around 12-hour `上午7点` forms and 24-hour times) and quantities with count nouns.
def extra_duration_frames():
    texts = [  # (frame, German case)
        (L("preparation time: {u}", "准备时间：{u}", "Vorbereitungszeit: {u}", "temps de préparation : {u}"), "nom"),
        (L("the return takes {u}", "退货需要{u}", "die Rückgabe dauert {u}", "le retour prend {u}"), "nom"),
        (L("valid for {u}", "有效期为{u}", "gültig für {u}", "valable {u}"), "nom"),
        (L("the sale lasts {u}", "优惠期为{u}", "die Aktion dauert {u}", "l'offre dure {u}"), "nom"),
        (L("delivery time: {u}", "配送时间：{u}", "Lieferzeit: {u}", "délai de livraison : {u}"), "nom"),
        (L("call duration: {u}", "通话时间：{u}", "Gesprächsdauer: {u}", "durée de l'appel : {u}"), "nom"),
        (L("back in stock in {u}", "{u}后到货", "wieder auf Lager in {u}", "de retour en stock dans {u}"), "dat"),
        (L("ordered {u} ago", "{u}前下单", "vor {u} bestellt", "commandé il y a {u}"), "dat"),
        (L("pickup within {u}", "请在{u}内取货", "Abholung innerhalb von {u}", "retrait sous {u}"), "dat"),
        (L("the offer ends in {u}", "优惠将在{u}后截止", "das Angebot endet in {u}", "l'offre se termine dans {u}"),
         "dat"),
        (L("your item arrives in {u}", "您的商品将在{u}内送达", "Ihr Artikel kommt in {u} an",
           "votre article arrive dans {u}"), "dat"),
        (L("ready for pickup after {u}", "{u}后可取货", "nach {u} abholbereit", "prêt pour le retrait après {u}"),
         "dat"),
        (L("shipping takes {u}", "运送需要{u}", "der Versand dauert {u}", "l'expédition prend {u}"), "nom"),
        (L("free cancellation within {u}", "{u}内免费取消", "kostenlose Stornierung innerhalb von {u}",
           "annulation gratuite sous {u}"), "dat"),
        (L("delivery within {u}", "{u}内送达", "Lieferung innerhalb von {u}", "livraison sous {u}"), "dat"),
        (L("your order arrives in {u}", "您的订单将在{u}内到达", "Ihre Bestellung kommt in {u} an",
           "votre commande arrive dans {u}"), "dat"),
    ]
    return duration_templates("xdur", texts)


def extra_time_frames():
    texts = [
        L("delivery at {t}", "{t}送货", "Lieferung um {t}", "livraison à {t}"),
        L("the order ships at {t}", "订单{t}发货", "die Bestellung wird um {t} versandt", "la commande est expédiée à {t}"),
        L("the offer is valid from {t}", "优惠{t}起有效", "das Angebot gilt ab {t}", "l'offre est valable à partir de {t}"),
        L("the offer ends at {t}", "优惠{t}截止", "das Angebot endet um {t}", "l'offre se termine à {t}"),
        L("your delivery arrives at {t}", "您的货物将于{t}送达", "Ihre Lieferung kommt um {t} an",
          "votre livraison arrive à {t}"),
        L("your delivery is planned for {t}", "您的配送时间为{t}", "Ihre Lieferung ist für {t} geplant",
          "votre livraison est prévue à {t}"),
        L("the order arrives at {t}", "订单将于{t}到达", "die Bestellung kommt um {t} an", "la commande arrive à {t}"),
        L("your slot: {t}", "您的时段：{t}", "Ihr Zeitfenster: {t}", "votre créneau : {t}"),
        L("open from {t}", "{t}起开门", "geöffnet ab {t}", "ouvert à partir de {t}"),
        L("the shop is closed until {t}", "商店关门至{t}", "der Laden ist bis {t} geschlossen",
          "le magasin est fermé jusqu'à {t}"),
        L("new messages at {t}", "{t}有新消息", "neue Nachrichten um {t}", "nouveaux messages à {t}"),
        L("delivery until {t}", "{t}前送达", "Lieferung bis {t}", "livraison jusqu'à {t}"),
        L("pickup until {t}", "{t}前取货", "Abholung bis {t}", "retrait jusqu'à {t}"),
        L("self-service pickup at {t}", "{t}自行取货", "Selbstabholung um {t}", "retrait en libre-service à {t}"),
        L("in-store pickup at {t}", "{t}到店取货", "Abholung im Laden um {t}", "retrait en magasin à {t}"),
        L("your pickup is scheduled for {t}", "您的取货安排在{t}", "Ihre Abholung ist für {t} geplant",
          "votre retrait est prévu à {t}"),
        L("your appointment is scheduled for {t}", "您的预约安排在{t}", "Ihr Termin ist für {t} geplant",
          "votre rendez-vous est prévu à {t}"),
        L("the delivery is scheduled for {t}", "配送安排在{t}", "die Lieferung ist für {t} geplant",
          "la livraison est prévue à {t}"),
    ]
    return time_templates("xtime", texts)


XQTY_TEXTS = [
    (L("you selected {q}", "您选择了{q}", "Sie haben {q} ausgewählt", "vous avez sélectionné {q}"), "acc"),
    (L("view {q}", "查看{q}", "{q} ansehen", "afficher {q}"), "acc"),
    (L("shipped: {q}", "已发货：{q}", "versandt: {q}", "expédié : {q}"), "nom"),
    (L("the order contains {q}", "订单中有{q}", "die Bestellung enthält {q}", "la commande contient {q}"), "acc"),
    (L("order {q} now", "现在订购{q}", "jetzt {q} bestellen", "commandez {q} maintenant"), "acc"),
    (L("available: {q}", "有货：{q}", "verfügbar: {q}", "disponible : {q}"), "nom"),
    (L("your basket contains {q}", "购物车中有{q}", "Ihr Warenkorb enthält {q}", "votre panier contient {q}"), "acc"),
    (L("delivered: {q}", "已送达：{q}", "geliefert: {q}", "livré : {q}"), "nom"),
]


def extra_qty_frames():
    return qty_templates("xqty", [t for t, _ in XQTY_TEXTS])


EXTRA_CATEGORIES = {"time": extra_time_frames(), "duration": extra_duration_frames(), "quantity": extra_qty_frames()}
# phase-3 category weights: the original ones, with more weight on the categories that got new frames
AUG_CAT_WEIGHTS = dict(CAT_WEIGHTS, time=5, duration=6, quantity=5)


# ---------------------------------------------------------------- phase-4 data: sibling frames and the article format
# The phase-3 model's remaining held-out errors were prefix habits of the decoder: the target text of an original
# frame had only ever been followed by some value formats (`您的通话安排在` always by 上午/下午, because `your call is
# scheduled for` x 24-hour time is a held-out pairing), and it kept writing them. A *sibling* is a training-only frame
# that keeps the original frame's target words verbatim and changes one word of it (`our call is scheduled for {t}`
# -> `我们的通话安排在{t}`), paired with every format, so each original target prefix is seen followed by every
# format. One sibling per original time, duration and quantity frame (the categories with held-out errors).
SIBLING_TIME_TEXTS = [
    L("free pickup at {t}", "{t}免费取货", "kostenlose Abholung um {t}", "retrait gratuit à {t}"),
    L("the new shop opens at {t}", "新商店{t}开门", "der neue Laden öffnet um {t}", "le nouveau magasin ouvre à {t}"),
    L("the new shop closes at {t}", "新商店{t}关门", "der neue Laden schließt um {t}", "le nouveau magasin ferme à {t}"),
    L("please order before {t} for same-day delivery", "请在{t}前下单可当日送达",
      "bitte bis {t} bestellen für Lieferung am selben Tag",
      "veuillez commander avant {t} pour une livraison le jour même"),
    L("our call is scheduled for {t}", "我们的通话安排在{t}", "unser Anruf ist für {t} geplant",
      "notre appel est prévu à {t}"),
]
SIBLING_DURATION_TEXTS = [  # (frame, German case)
    (L("your new order ships in {u}", "您的新订单将在{u}内发货", "Ihre neue Bestellung wird in {u} versandt",
       "votre nouvelle commande sera expédiée dans {u}"), "dat"),
    (L("free delivery takes {u}", "免费配送需要{u}", "die kostenlose Lieferung dauert {u}",
       "la livraison gratuite prend {u}"), "nom"),
    (L("your order is ready in {u}", "您的订单{u}后准备好", "Ihre Bestellung ist in {u} fertig",
       "votre commande est prête dans {u}"), "dat"),
    (L("returns accepted within {u}", "{u}内可退货", "Rückgabe innerhalb von {u} möglich", "retours acceptés sous {u}"),
     "dat"),
    (L("current wait: {u}", "当前等待时间：{u}", "aktuelle Wartezeit: {u}", "temps d'attente actuel : {u}"), "nom"),
]
SIBLING_QTY_TEXTS = [  # (frame, German case of the slot; None: no article form)
    (L("add {q} to your order", "将{q}加入订单", "{q} zur Bestellung hinzufügen", "ajouter {q} à la commande"), "acc"),
    (L("only {q} left in the shop", "商店仅剩{q}", "nur noch {q} im Laden", "plus que {q} en magasin"), None),
    (L("we ordered {q}", "我们订购了{q}", "wir haben {q} bestellt", "nous avons commandé {q}"), "acc"),
]

# The value hashing happens to put every "1 <noun>" quantity of bottle, cup, lamp, pen and ticket in the test split,
# so no training row ever showed those nouns in the singular (`1 Tasse`, `1 stylo`, `1盏灯` after `1 lamp`). The
# article format teaches the singular words without a test value: `a cup` -> `一个杯子` / `eine Tasse` / `une tasse`.
# It has no number, so it shares no value with the test split (and none is hashed); it never occurs in held-out rows.
# noun: English article, German gender, French article
NOUN_ARTICLES = {
    "bottle": ("a", "f", "une"), "tea": ("a", "f", "une"), "book": ("a", "n", "un"), "shirt": ("a", "n", "une"),
    "shoes": ("a", "n", "une"), "cup": ("a", "f", "une"), "umbrella": ("an", "m", "un"), "chair": ("a", "m", "une"),
    "pen": ("a", "m", "un"), "rice": ("a", "m", "un"), "lamp": ("a", "f", "une"), "table": ("a", "m", "une"),
    "bicycle": ("a", "n", "un"), "apple": ("an", "m", "une"), "ticket": ("a", "n", "un"),
}
DE_ARTICLES = {("nom", "m"): "ein", ("nom", "f"): "eine", ("nom", "n"): "ein",
               ("acc", "m"): "einen", ("acc", "f"): "eine", ("acc", "n"): "ein"}


def fmt_article(name, lang, case):
    e, (en, gender, fr) = NOUNS[name], NOUN_ARTICLES[name]
    if lang == "en":
        return "%s %s" % (en, e[0])
    if lang == "zho":
        return "一" + e[2]
    if lang == "deu":
        return "%s %s" % (DE_ARTICLES[(case, gender)], e[3])
    return "%s %s" % (fr, e[5])


def article_templates(prefix, texts):
    out = []
    for i, (t, case) in enumerate(texts):
        if case is None:
            continue

        def render(v, lang, t=t, case=case):
            return t[lang].format(q=fmt_article(v[1], lang, case))

        def sampler(rng, split, fmt):
            return ("a_noun", rng.choice(sorted(NOUNS)))
        out.append(("%s%d" % (prefix, i), ["a_noun"], render, sampler))
    return out


SIBLING_CATEGORIES = {
    "time": time_templates("stime", SIBLING_TIME_TEXTS),
    "duration": duration_templates("sdur", SIBLING_DURATION_TEXTS),
    "quantity": qty_templates("sqty", [t for t, _ in SIBLING_QTY_TEXTS])
    + article_templates("aqty", QTY_TEXTS) + article_templates("axqty", XQTY_TEXTS)
    + article_templates("asqty", SIBLING_QTY_TEXTS),
}

# ---------------------------------------------------------------- novel-frame test (novel.jsonl)
# Frames that occur in no training file, written before phase 4 was trained and never used to choose anything:
# an honest measure of frames nobody tuned the data for (the held-out split's frames all have training-only
# relatives by now). Built from words the training data knows; values from the test split.
NOVEL_CATEGORIES = {
    "time": time_templates("ntime", [
        L("free delivery at {t}", "{t}免费送货", "kostenlose Lieferung um {t}", "livraison gratuite à {t}"),
        L("your order is scheduled for {t}", "您的订单安排在{t}", "Ihre Bestellung ist für {t} geplant",
          "votre commande est prévue à {t}"),
    ]),
    "duration": duration_templates("ndur", [
        (L("free pickup within {u}", "{u}内免费取货", "kostenlose Abholung innerhalb von {u}",
           "retrait gratuit sous {u}"), "dat"),
        (L("your delivery takes {u}", "您的配送需要{u}", "Ihre Lieferung dauert {u}", "votre livraison prend {u}"),
         "nom"),
    ]),
    "quantity": qty_templates("nqty", [
        L("your basket: {q}", "您的购物车：{q}", "Ihr Warenkorb: {q}", "votre panier : {q}"),
        L("your order contains {q}", "您的订单中有{q}", "Ihre Bestellung enthält {q}", "votre commande contient {q}"),
    ]),
}


def generate_aug(n, seed, extra_sets=(EXTRA_CATEGORIES,)):
    """Training rows of phase 3 (extra_sets: the training-only frames) or phase 4 (also the siblings): the original
    training templates plus every (training-only frame, format) pairing."""
    rng = random.Random(seed)
    tsplit = template_splits()
    pools = {}
    for cat, frames in CATEGORIES.items():
        pools[cat] = [(f, fmt) for f in frames for fmt in f[1] if tsplit[(cat, f[0], fmt)] == "train"]
        for extra in extra_sets:
            pools[cat] += [(f, fmt) for f in extra.get(cat, []) for fmt in f[1]]
    cats = list(CATEGORIES)
    weights = [AUG_CAT_WEIGHTS[c] for c in cats]
    out = []
    for _ in range(n):
        cat = rng.choices(cats, weights)[0]
        frame, fmt = rng.choice(pools[cat])
        v = frame[3](rng, "train", fmt)
        out.append(make_row(cat, frame, fmt, v, rng.choice(LANGS)))
    return out


def check_disjoint(train, held):
    """No training row uses a held-out template or a held-out source (held: the held-out and the novel-frame rows);
    training-only frames are new texts."""
    test_templates = {r["template"] for r in held}
    test_sources = {r["source"] for r in held}
    bad_t = sum(r["template"] in test_templates for r in train)
    bad_s = sum(r["source"] in test_sources for r in train)
    assert bad_t == 0 and bad_s == 0, ("train rows with held-out templates / sources", bad_t, bad_s)
    added = [EXTRA_CATEGORIES, SIBLING_CATEGORIES, NOVEL_CATEGORIES]
    names = [f[0] for cats in [CATEGORIES] + added for frames in cats.values() for f in frames]
    assert len(set(names)) == len(names), "frame names must be unique"
    for cat in CATEGORIES:
        rng = random.Random(0)
        xframes = [f for cats in added for f in cats.get(cat, []) if "a_noun" not in f[1]]
        for lang in ["en"] + LANGS:
            # render every frame of the category with the same value: an added frame must not produce the same
            # text as an original frame (or another added frame) in any language
            for fmt in CATEGORIES[cat][0][1]:
                v = CATEGORIES[cat][0][3](rng, "train", fmt)
                texts = [f[2](v, lang) for f in CATEGORIES[cat] + xframes]
                assert len(set(texts)) == len(texts), (cat, lang, fmt, texts)
    return len(train)


def generate_novel(n, seed, lang):
    """Novel-frame test rows: every novel (frame, format) pairing equally likely, values from the test split."""
    rng = random.Random(seed)
    pool = [(cat, f, fmt) for cat, frames in NOVEL_CATEGORIES.items() for f in frames for fmt in f[1]]
    out = []
    for _ in range(n):
        cat, frame, fmt = rng.choice(pool)
        out.append(make_row(cat, frame, fmt, frame[3](rng, "test", fmt), lang))
    return out


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main():
    out_dir = sys.argv[1]
    n_train = int(sys.argv[2]) if len(sys.argv) > 2 else 300000
    n_aug = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    os.makedirs(out_dir, exist_ok=True)
    train = generate("train", n_train, seed=1234)
    write_jsonl(os.path.join(out_dir, "train.jsonl"), train)
    held = []
    for i, lang in enumerate(LANGS):
        held += generate("test", 300, seed=9000 + i, lang_list=[lang])
    write_jsonl(os.path.join(out_dir, "heldout.jsonl"), held)
    novel = []
    for i, lang in enumerate(LANGS):
        novel += generate_novel(150, seed=9100 + i, lang=lang)
    write_jsonl(os.path.join(out_dir, "novel.jsonl"), novel)
    ts = template_splits()
    print("templates: train %d, test %d" % (sum(v == "train" for v in ts.values()),
                                            sum(v == "test" for v in ts.values())))
    print("train rows %d, heldout rows %d, novel-frame test rows %d" % (len(train), len(held), len(novel)))
    check_disjoint(train, held + novel)
    if n_aug:
        aug = generate_aug(n_aug, seed=4321)
        check_disjoint(aug, held + novel)
        write_jsonl(os.path.join(out_dir, "train_aug.jsonl"), aug)
        nx = sum(len(f[1]) for frames in EXTRA_CATEGORIES.values() for f in frames)
        print("phase-3 rows %d (original training templates + %d training-only frames x formats = %d templates), "
              "%d rows from training-only frames" % (len(aug), sum(len(v) for v in EXTRA_CATEGORIES.values()), nx,
                                                     sum(r["template"].startswith("x") for r in aug)))
        p4 = generate_aug(n_aug, seed=5678, extra_sets=(EXTRA_CATEGORIES, SIBLING_CATEGORIES))
        check_disjoint(p4, held + novel)
        write_jsonl(os.path.join(out_dir, "train_p4.jsonl"), p4)
        ns = sum(len(f[1]) for frames in SIBLING_CATEGORIES.values() for f in frames)
        print("phase-4 rows %d (phase-3 templates + %d sibling and article templates), %d rows from them"
              % (len(p4), ns, sum(r["template"].startswith(("s", "a")) for r in p4)))
    print("disjointness: 0 training rows use a held-out or novel-frame template or source")


if __name__ == "__main__":
    main()
