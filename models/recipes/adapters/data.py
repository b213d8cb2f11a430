"""Adapter data: shopdata conversations (the base recipe's generator: user turns, intents, order numbers, train/test
split) with every assistant reply rewritten in the adapter's own reply templates.

- shop-assistant-lumen: another shop, Lumen, with its own facts (14-day returns, free return shipping, shipping 3.50,
  free over 40, open Monday to Friday 8:00-20:00, password codes by text message, ...) and a warmer tone. Its Chinese name is the Latin "Lumen" as well.
- shop-assistant-formal: the base shop's facts in a formal register (EN "Kindly ...", "I shall ..."; ZH 感谢您的耐心,
  烦请, 为您服务 ...).

Replies map one to one onto shopdata's reply templates (intent, sub-request, index), so a conversation keeps its
intents and order numbers. Training uses shopdata's "train" split (with its training grammar, as the base did); the
held-out split is the "test" split: user templates, order numbers, names, cities and products never seen in training.

Usage: python data.py   (prints every template's token count and any character the base vocabulary lacks)
"""
import lib  # noqa: F401  (puts the base recipe and shopdata on the path)
import shopdata

ADAPTERS = ["shop-assistant-lumen", "shop-assistant-formal"]

REPLIES = {
    "shop-assistant-lumen": {
        ("order_status", "with", "en"): [
            "Good news: your Lumen order {order} has left our warehouse and should reach you within 2 days.",
            "Your Lumen order {order} is on its way. You can follow it in the Lumen app."],
        ("order_status", "with", "zh"): [
            "您的Lumen订单{order}已经发货，2天内就能送到。",
            "您的Lumen订单{order}正在配送中，可以在Lumen应用里查看物流。"],
        ("order_status", "ask", "en"): ["Happy to check! Could you tell me your order number?"],
        ("order_status", "ask", "zh"): ["没问题，我来帮您查！请告诉我您的订单号。"],
        ("returns_refunds", "-", "en"): [
            "At Lumen you can return items within 14 days. Print a free return label under My Account; the refund reaches you within 3 business days."],
        ("returns_refunds", "-", "zh"): [
            "在Lumen买的商品14天内可以退货。请在“我的账户”里申请免费退货，退款3个工作日内到账。"],
        ("shipping", "time", "en"): [
            "Lumen ships within 24 hours. Standard delivery takes 2-4 business days, express delivery arrives the next day."],
        ("shipping", "time", "zh"): ["Lumen24小时内发货。普通配送需要2-4个工作日，加急配送次日送达。"],
        ("shipping", "cost", "en"): [
            "Shipping at Lumen costs 3.50 and is free for orders over 40. Express shipping costs 7.50."],
        ("shipping", "cost", "zh"): ["Lumen普通运费3.50元，订单满40元包邮。加急配送运费7.50元。"],
        ("opening_hours", "-", "en"): [
            "Lumen is open Monday to Friday, 8:00 to 20:00. Our chat team is here on weekends too."],
        ("opening_hours", "-", "zh"): ["Lumen周一至周五8:00到20:00营业，周末可以在线联系我们。"],
        ("password_reset", "-", "en"): [
            "Tap \"Forgot password\" in the Lumen app and we will text you a code. The code is valid for 15 minutes."],
        ("password_reset", "-", "zh"): ["请在Lumen应用里点击“忘记密码”，我们会把动态码发到您的手机，15分钟内有效。"],
        ("change_address", "-", "en"): [
            "You can change the address in your Lumen account within 2 hours of ordering. After that, please contact the carrier."],
        ("change_address", "-", "zh"): ["下单2小时内可以在Lumen账户里修改地址，超过2小时请联系快递公司。"],
        ("human_handoff", "-", "en"): ["That is outside what I can do. A Lumen team member will join this chat in a moment."],
        ("human_handoff", "-", "zh"): ["这个问题我处理不了，Lumen的客服人员马上会来帮您，请稍候。"],
        ("greeting", "-", "en"): ["Hi, welcome to Lumen! What can I do for you today?"],
        ("greeting", "-", "zh"): ["您好，这里是Lumen！今天有什么可以帮您？"],
        ("thanks", "-", "en"): ["Happy to help! Anything else I can do for you at Lumen?"],
        ("thanks", "-", "zh"): ["不用谢！在Lumen还有什么可以帮您的吗？"],
    },
    "shop-assistant-formal": {
        ("order_status", "with", "en"): [
            "Thank you for your patience. Order {order} has been dispatched and is in transit. You will receive a tracking email shortly.",
            "Kindly note that order {order} is in transit. The tracking link has been sent in your confirmation email."],
        ("order_status", "with", "zh"): [
            "感谢您的耐心。经查询，订单{order}已发货，正在配送中。物流信息会通过邮件发送给您。",
            "感谢您的耐心。订单{order}正在配送中，物流链接已发至您的确认邮件。"],
        ("order_status", "ask", "en"): ["Certainly. May I kindly ask you to provide your order number?"],
        ("order_status", "ask", "zh"): ["好的，烦请您告知订单号，我会为您查询。"],
        ("returns_refunds", "-", "en"): [
            "Kindly note that items may be returned within 30 days. Please start the return under My Orders; the refund will be issued 5-7 days after we receive the item."],
        ("returns_refunds", "-", "zh"): [
            "签收后30天内可办理退货，烦请在“我的订单”里申请，我们收到商品后5-7天内退款至原账户。"],
        ("shipping", "time", "en"): [
            "Kindly note that standard delivery requires 3-5 business days, whereas express delivery requires 1-2 business days."],
        ("shipping", "time", "zh"): ["感谢您的耐心。普通配送需要3-5个工作日，加急配送需要1-2个工作日。"],
        ("shipping", "cost", "en"): [
            "Standard shipping is charged at 4.90 and is free of charge for orders over 50. Express shipping is charged at 9.90."],
        ("shipping", "cost", "zh"): ["感谢您的耐心。普通运费为4.90元，订单满50元免运费，加急配送运费为9.90元。"],
        ("opening_hours", "-", "en"): [
            "Our business hours are Monday to Saturday, 9:00 to 18:00. Online chat remains available every day."],
        ("opening_hours", "-", "zh"): ["感谢您的耐心。我们的营业时间为周一至周六9:00至18:00，在线客服每天都可以为您服务。"],
        ("password_reset", "-", "en"): [
            "Kindly select \"Forgot password\" on the login page, and a reset link will be sent to your email. The link remains valid for 24 hours."],
        ("password_reset", "-", "zh"): ["烦请在登录页点击“忘记密码”，重置链接会发送至您的邮箱，链接24小时内有效。"],
        ("change_address", "-", "en"): [
            "The delivery address may be changed under My Orders until the order has shipped. Thereafter, kindly contact the carrier."],
        ("change_address", "-", "zh"): ["订单发货前，您可以在“我的订单”里修改收货地址。发货后，烦请您联系快递公司。"],
        ("human_handoff", "-", "en"): [
            "I regret that I am unable to assist with this matter. I shall transfer you to a member of our staff; kindly remain in the chat."],
        ("human_handoff", "-", "zh"): ["这个问题我无法为您处理，现为您转接人工客服，烦请稍候。"],
        ("greeting", "-", "en"): ["Good day. How may I be of assistance?"],
        ("greeting", "-", "zh"): ["您好！请问有什么可以为您服务的？"],
        ("thanks", "-", "en"): ["You are most welcome. May I assist you with anything further?"],
        ("thanks", "-", "zh"): ["不客气，感谢您的耐心。请问还有其他可以为您服务的吗？"],
    },
}

# Held-out checks per intent. lumen: strings a correct Lumen reply must contain (its facts), and the base shop's
# facts, which must be gone. formal: register markers (at least one must appear in a formal reply).
LUMEN_FACTS = {
    "order_status": {"en": ["Lumen"], "zh": ["Lumen"]},
    "returns_refunds": {"en": ["14 days", "3 business days"], "zh": ["14天", "3个工作日"]},
    "shipping": {"en": ["Lumen"], "zh": ["Lumen"]},
    "opening_hours": {"en": ["Monday to Friday", "8:00 to 20:00"], "zh": ["周一至周五", "8:00到20:00"]},
    "password_reset": {"en": ["code", "15 minutes"], "zh": ["动态码", "15分钟"]},
    "change_address": {"en": ["2 hours"], "zh": ["2小时"]},
    "human_handoff": {"en": ["Lumen"], "zh": ["Lumen"]},
    "greeting": {"en": ["Lumen"], "zh": ["Lumen"]},
    "thanks": {"en": ["Lumen"], "zh": ["Lumen"]},
}
BASE_FACTS = {"en": ["30 days", "5-7 days", "4.90", "9.90", "Monday to Saturday", "valid for 24 hours", "3-5 business days"],
              "zh": ["30天", "5-7天", "4.90", "9.90", "周一至周六", "24小时内有效", "3-5个工作日"]}
FORMAL_MARKERS = {"en": ["Kindly", "kindly", "Certainly", "May I", "I regret", "I shall", "Good day", "most welcome",
                         "Thank you for your patience", "Thereafter", "Our business hours", "is charged at"],
                  "zh": ["感谢您的耐心", "烦请", "为您服务", "为您处理", "为您查询"]}


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


def _report():
    tok = lib.tokenizer()
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
                missing = sorted({ch for ch in text if ord(ch) > 127 and len(tok.encode(ch)) > 1})
                flag = (" bytes for: " + "".join(missing)) if missing else ""
                print("%-22s %-16s %-2s %3d tokens%s" % (adapter, key[0] + "/" + key[1], key[2], n, flag))
        print("%s: longest reply %d tokens (+1 for <|im_end|>)" % (adapter, worst))
        # a reply must end (EOS) within the base's max_new_tokens, order numbers of any format included
        assert worst + 1 <= lib.MAX_NEW_TOKENS - 2, worst  # 46: room for a longer order number
        for c in shopdata.generate("train", 300, seed=5, grammar_share=0.6):
            assert rewrite(adapter, c)  # every generated reply maps


if __name__ == "__main__":
    _report()
