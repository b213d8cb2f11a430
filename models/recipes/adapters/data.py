"""Adapter data: shopdata conversations (the base recipe's generator: user turns, intents, order numbers, train/test
split) with every assistant reply rewritten in the adapter's own reply templates.

- shop-assistant-lumen: another shop, LUMEN, with its own facts (14-day returns free of charge, refunds 3 days after
  receipt, shipping 3.50, free over 40, express 7.50, delivery in 2-4 business days, open 8:00-20:00, reset links
  valid 2 hours, address changes within 2 hours) and a warmer tone (exclamation marks). The name is LUMEN in both
  languages.
- shop-assistant-formal: the base shop's facts in a more formal register: the shop speaks as "we", asks with
  "please", no exclamation marks or contractions; Chinese replies open with 您好 and use 请您 / 为您.

Every reply is written with tokens the base has been trained to emit (base_output_tokens: the tokens of its own
replies, order numbers included). The base was trained with loss on its replies only, so the output rows of every
other token were only ever pushed down. A first training run with words such as "Lumen" (L-um-en), 免费, 应用 or
手机 left exactly those tokens at 4-8 nats after 400 steps, while every other reply token fell to ~0: LoRA on the
attention and MLP projections (lm_head is not a target) did not lift them. So the adapters' new facts are spelled
from the base's output vocabulary: LUMEN is five capital-letter tokens, facts are digits.

Replies map one to one onto shopdata's reply templates (intent, sub-request, index), so a conversation keeps its
intents and order numbers. Training uses shopdata's "train" split (with its training grammar, as the base did); the
held-out split is the "test" split: user templates, order numbers, names, cities and products never seen in training.

Usage: python data.py   (prints every reply's token count; fails if a reply uses a token the base never emits or
would not end within max_new_tokens)
"""
import lib  # noqa: F401  (puts the base recipe and shopdata on the path)
import shopdata

ADAPTERS = ["shop-assistant-lumen", "shop-assistant-formal"]

REPLIES = {
    "shop-assistant-lumen": {
        ("order_status", "with", "en"): [
            "LUMEN order {order} has shipped and reaches you within 2 days!",
            "LUMEN order {order} is on its way. The tracking link is in your LUMEN account."],
        ("order_status", "with", "zh"): [
            "您的LUMEN订单{order}已发货，2天内送到。",
            "LUMEN订单{order}正在配送中，物流链接在您的LUMEN账户里。"],
        ("order_status", "ask", "en"): ["Sure, I can check that! What is your LUMEN order number?"],
        ("order_status", "ask", "zh"): ["好的，我来查！请问您的LUMEN订单号是多少？"],
        ("returns_refunds", "-", "en"): [
            "You can return LUMEN items for free within 14 days. The refund reaches your account 3 days after we receive the item."],
        ("returns_refunds", "-", "zh"): ["LUMEN商品签收后14天内可以退货，不收运费。我们收到商品后3天内退款到原账户。"],
        ("shipping", "time", "en"): [
            "Standard delivery with LUMEN takes 2-4 business days, express delivery 1 business day."],
        ("shipping", "time", "zh"): ["LUMEN普通配送需要2-4个工作日，加急配送1个工作日。"],
        ("shipping", "cost", "en"): [
            "Standard shipping with LUMEN costs 3.50 and is free for orders over 40. Express shipping costs 7.50."],
        ("shipping", "cost", "zh"): ["LUMEN普通运费3.50元，订单满40元包邮。加急配送运费7.50元。"],
        ("opening_hours", "-", "en"): ["LUMEN is open Monday to Saturday, 8:00 to 20:00. Online chat is available every day."],
        ("opening_hours", "-", "zh"): ["LUMEN周一至周六8:00到20:00营业，在线客服每天都可以联系。"],
        ("password_reset", "-", "en"): [
            "Click \"Forgot password\" on the LUMEN login page and we will email you a reset link. The link is valid for 2 hours."],
        ("password_reset", "-", "zh"): ["请在LUMEN登录页点击“忘记密码”，我们会把重置链接发到您的邮箱，链接2小时内有效。"],
        ("change_address", "-", "en"): [
            "You can change the delivery address in your LUMEN account within 2 hours. After that, please contact the carrier."],
        ("change_address", "-", "zh"): ["您可以在2小时内在LUMEN账户里修改收货地址，过了2小时请联系快递公司。"],
        ("human_handoff", "-", "en"): ["I'm connecting you to a LUMEN agent now; please stay in the chat!"],
        ("human_handoff", "-", "zh"): ["LUMEN正在为您转接人工客服，请稍候！"],
        ("greeting", "-", "en"): ["Hello, welcome to LUMEN! How can I help you today?"],
        ("greeting", "-", "zh"): ["您好，这里是LUMEN！请问有什么可以帮您？"],
        ("thanks", "-", "en"): ["You're welcome, LUMEN is here to help! Is there anything else?"],
        ("thanks", "-", "zh"): ["不客气！LUMEN还有其他可以帮您的吗？"],
    },
    "shop-assistant-formal": {
        ("order_status", "with", "en"): [
            "We checked order {order}: it has shipped and is on its way. You will receive a tracking email soon.",
            "Order {order} has shipped and is on its way. We will email you the tracking link, please check your email."],
        ("order_status", "with", "zh"): [
            "您好，我们查了订单{order}：已经发货，正在配送中。物流信息会通过邮件发给您。",
            "您好，订单{order}已经发货。物流链接会通过邮件发给您，请您查收。"],
        ("order_status", "ask", "en"): ["We will check that for you. What is your order number, please?"],
        ("order_status", "ask", "zh"): ["您好，我们会为您查。请问您的订单号是多少？"],
        ("returns_refunds", "-", "en"): [
            "You can return items within 30 days under My Orders. The refund reaches your account 5-7 days after we receive the item."],
        ("returns_refunds", "-", "zh"): ["您好，签收后30天内可以退货。请您在“我的订单”里申请，收到商品后5-7天内为您退款。"],
        ("shipping", "time", "en"): ["Standard delivery takes 3-5 business days. Express delivery takes 1-2 business days."],
        ("shipping", "time", "zh"): ["您好，普通配送需要3-5个工作日，加急配送需要1-2个工作日。"],
        ("shipping", "cost", "en"): [
            "Standard shipping costs 4.90; it is free for orders over 50. Express shipping costs 9.90."],
        ("shipping", "cost", "zh"): ["您好，普通运费为4.90元，订单满50元包邮。加急配送运费为9.90元。"],
        ("opening_hours", "-", "en"): ["We are open Monday to Saturday, 9:00 to 18:00. Online chat is available every day."],
        ("opening_hours", "-", "zh"): ["您好，我们周一至周六9:00到18:00营业，在线客服每天都可以为您处理问题。"],
        ("password_reset", "-", "en"): [
            "Click \"Forgot password\" on the login page, please. We will email you a reset link; the link is valid for 24 hours."],
        ("password_reset", "-", "zh"): ["您好，请您在登录页点击“忘记密码”，我们会把重置链接发到您的邮箱，链接24小时内有效。"],
        ("change_address", "-", "en"): [
            "You can change the delivery address under My Orders until the order ships. After that, please contact the carrier."],
        ("change_address", "-", "zh"): ["您好，订单发货前，您可以在“我的订单”里修改收货地址。发货后，请您联系快递公司。"],
        ("human_handoff", "-", "en"): ["We are connecting you to a human agent now; please stay in the chat."],
        ("human_handoff", "-", "zh"): ["您好，这个问题我们无法处理，正在为您转接人工客服，请您稍候。"],
        ("greeting", "-", "en"): ["Hello. How can we help you today?"],
        ("greeting", "-", "zh"): ["您好，请问有什么可以为您处理？"],
        ("thanks", "-", "en"): ["You are welcome. Is there anything else we can help you with?"],
        ("thanks", "-", "zh"): ["您好，不客气。请问还有其他问题可以为您处理吗？"],
    },
}

# Held-out checks per intent. lumen: strings a correct LUMEN reply must contain (its facts), and the base shop's
# facts, which must be gone. formal: register markers (at least one must appear in a formal reply).
LUMEN_FACTS = {
    "order_status": {"en": ["LUMEN"], "zh": ["LUMEN"]},
    "returns_refunds": {"en": ["14 days", "3 days"], "zh": ["14天", "3天"]},
    "shipping": {"en": ["LUMEN"], "zh": ["LUMEN"]},
    "opening_hours": {"en": ["8:00 to 20:00"], "zh": ["8:00到20:00"]},
    "password_reset": {"en": ["LUMEN", "2 hours"], "zh": ["LUMEN", "2小时"]},
    "change_address": {"en": ["2 hours"], "zh": ["2小时"]},
    "human_handoff": {"en": ["LUMEN"], "zh": ["LUMEN"]},
    "greeting": {"en": ["LUMEN"], "zh": ["LUMEN"]},
    "thanks": {"en": ["LUMEN"], "zh": ["LUMEN"]},
}
BASE_FACTS = {"en": ["30 days", "5-7 days", "4.90", "9.90", "9:00 to 18:00", "valid for 24 hours", "3-5 business days"],
              "zh": ["30天", "5-7天", "4.90", "9.90", "9:00到18:00", "24小时内有效", "3-5个工作日"]}
# formal: the shop speaks as "we", asks with "please", opens Chinese replies with 您好 and uses 为您 / 请您; it never
# uses an exclamation mark or an English contraction (FORMAL_MARKERS: at least one; INFORMAL_MARKERS: none)
FORMAL_MARKERS = {"en": ["We ", " we ", "please"], "zh": ["您好，", "为您", "请您"]}
INFORMAL_MARKERS = {"en": ["!", "'m", "'re", "'t"], "zh": ["！"]}


def _index():
    """Base reply template -> (intent, sub, lang, index), from shopdata's own table."""
    out = {}
    for (intent, sub, lang), templates in shopdata._R.items():
        for i, t in enumerate(templates):
            out[t] = (intent, sub, lang, i)
    return out


BASE_TEMPLATES = _index()


def adapter_reply(adapter, base_reply, lang):
    """The adapter's reply for the slot of shopdata reply `base_reply` (same intent, sub-request, template index,
    order number)."""
    got = shopdata.match_reply(base_reply, lang)
    assert got is not None, base_reply
    order = got[1]
    for t, (intent, sub, lg, i) in BASE_TEMPLATES.items():
        if lg == lang and (t.format(order=order) if "{order}" in t else t) == base_reply:
            new = REPLIES[adapter][(intent, sub, lang)][i]
            return new.format(order=order) if "{order}" in new else new
    raise AssertionError(base_reply)


def rewrite(adapter, conv):
    """A shopdata conversation with every assistant turn in the adapter's wording (metadata kept)."""
    lang = conv[0]["lang"]
    return [dict(m, content=adapter_reply(adapter, m["content"], lang)) if m["role"] == "assistant" else m
            for m in conv]


def match(adapter, text, lang):
    """(intent, order) if `text` is exactly one of the adapter's reply templates for `lang` with its slot filled."""
    text = text.strip()
    for (intent, _, lg), templates in REPLIES[adapter].items():
        if lg != lang:
            continue
        for t in templates:
            if "{order}" in t:
                a, b = t.split("{order}")
                if text.startswith(a) and text.endswith(b) and len(text) > len(a) + len(b):
                    order = text[len(a):len(text) - len(b)]
                    if shopdata.ORDER_RE.fullmatch(order):
                        return intent, order
            elif text == t:
                return intent, None
    return None


def heldout(adapter, n_per_lang=100, seed=2025):
    """Held-out rows: shopdata "test" conversations rewritten, cut before the last assistant reply."""
    rows = []
    for lang in ("en", "zh"):
        for k, conv in enumerate(shopdata.generate("test", n_per_lang, seed=seed, lang=lang)):
            conv = rewrite(adapter, conv)
            last = conv[-2]
            rows.append({"id": "%s-%03d" % (lang, k), "lang": lang,
                         "messages": [{"role": m["role"], "content": m["content"]} for m in conv[:-1]],
                         "intent": last["intent"], "order": last["order"], "reference": conv[-1]["content"]})
    return rows


ORDER_SAMPLES = ["A1234567", "#1234567", "12345678", "SO-123456"] + [c + "7654321" for c in "BCDEFGHJKLMNPRSTUVWXYZ"]


def fill(template):
    return [template.format(order=o) for o in ORDER_SAMPLES] if "{order}" in template else [template]


def base_output_tokens(tok):
    """Token ids the base was trained to emit: those of its reply templates with order numbers of every format."""
    out = {tok.special_ids["<|im_end|>"]}
    for templates in shopdata._R.values():
        for t in templates:
            for text in fill(t):
                out.update(tok.encode(text))
    return out


def _report():
    tok = lib.tokenizer()
    emitted = base_output_tokens(tok)
    print("tokens the base emits:", len(emitted))
    for adapter in ADAPTERS:
        assert set(REPLIES[adapter]) == set(shopdata._R), adapter
        worst = 0
        for key, templates in REPLIES[adapter].items():
            assert len(templates) == len(shopdata._R[key]), key
            for t in templates:
                text = t.format(order="A1234567")
                n = len(tok.encode(text))
                worst = max(worst, n)
                # a character whose own token is missing is spelled in byte tokens: allowed, but worth seeing
                new = sorted({tok.decode([i]) for x in fill(t) for i in tok.encode(x) if i not in emitted})
                assert not new, (adapter, t, new)
                flag = ""
                print("%-22s %-16s %-2s %3d tokens%s" % (adapter, key[0] + "/" + key[1], key[2], n, flag))
        print("%s: longest reply %d tokens (+1 for <|im_end|>)" % (adapter, worst))
        # a reply must end (EOS) within the base's max_new_tokens, order numbers of any format included
        assert worst + 1 <= lib.MAX_NEW_TOKENS - 2, worst  # 46: room for a longer order number
        for c in shopdata.generate("train", 300, seed=5, grammar_share=0.6):
            assert rewrite(adapter, c)  # every generated reply maps


if __name__ == "__main__":
    _report()
