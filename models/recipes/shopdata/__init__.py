"""shopdata: deterministic generator of web-shop customer-service conversations (English + Simplified Chinese).

Written for this project (Apache-2.0); every template and value below was written by hand for it.

API (import with `sys.path.insert(0, "models/recipes")` then `import shopdata`):

  INTENTS                      list of intent labels (user-turn labels):
                               order_status, returns_refunds, shipping, opening_hours, password_reset,
                               change_address, human_handoff, greeting, thanks
  LANGS                        ["en", "zh"]
  generate(split, n, seed, lang=None) -> list of conversations
      split: "train" or "test". A conversation is a list of messages
      {"role": "user", "content": str, "intent": str, "lang": str, "order": str|None, "group": str}
      {"role": "assistant", "content": str, "intent": str}
      with 1-3 user turns, each followed by the assistant reply. lang=None mixes en/zh 50/50
      (a conversation never mixes languages).
  user_turns(split, n, seed, lang=None) -> list of {"text", "intent", "lang", "group", "order"}
      single user utterances with intent labels. `group` is a paraphrase-group id: utterances with the
      same group have the same intent and the same underlying request (same slot values, same sub-request),
      only the wording (template) and possibly the language differ.
  paraphrase_groups(split, n_groups, per_group, seed, langs=("en","zh")) -> list of lists of user turns
      each inner list = `per_group` realisations per language of one request (distinct templates).
  reply_templates(intent=None, lang=None) -> list of (intent, lang, template) assistant reply templates
      (`{order}` is the only slot). Shared by train and test (they are the assistant's own phrasing).
  match_reply(text, lang) -> (intent, order) if `text` equals a reply template with its slot filled, else None.
  find_order_numbers(text) -> list of order-number strings in a text.

Held-out guarantee: "train" and "test" use disjoint user phrasing templates (incl. disjoint
prefix/suffix fillers), disjoint order numbers (partitioned by a CRC32 of the number), and disjoint
pools of names, cities and products. So the test split shares no template, order number, name or value
with training.
"""
import random
import re
import zlib

from . import grammar

INTENTS = ["order_status", "returns_refunds", "shipping", "opening_hours", "password_reset",
           "change_address", "human_handoff", "greeting", "thanks"]
LANGS = ["en", "zh"]

# ---------------------------------------------------------------- value pools (train / test disjoint)
_NAMES = {
    "en": (["Anna", "Tom", "Maria", "James", "Lucy", "Peter", "Sofia", "David", "Emma", "Oliver", "Grace", "Henry",
            "Chloe", "Daniel", "Mia", "Samuel", "Ella", "Jack", "Nora", "Leo"],
           ["Hannah", "Victor", "Irene", "George", "Paula", "Martin", "Rosa", "Felix", "Clara", "Simon"]),
    "zh": (["王芳", "李明", "张伟", "刘洋", "陈静", "杨磊", "赵敏", "黄丽", "周杰", "吴娜", "徐强", "孙悦",
            "马超", "朱琳", "胡军", "郭婷"],
           ["林涛", "何雪", "高峰", "罗兰", "梁晨", "宋佳", "郑宇", "谢芳"]),
}
_CITIES = {
    "en": (["London", "Berlin", "Paris", "Madrid", "Rome", "Vienna", "Dublin", "Lisbon", "Oslo", "Prague",
            "Boston", "Toronto", "Sydney", "Denver", "Seattle", "Austin"],
           ["Munich", "Lyon", "Zurich", "Warsaw", "Chicago", "Ottawa", "Perth", "Helsinki"]),
    "zh": (["北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "天津", "苏州", "重庆"],
           ["长沙", "青岛", "厦门", "昆明", "大连", "郑州"]),
}
_PRODUCTS = {
    "en": (["blue kettle", "running shoes", "desk lamp", "wool scarf", "coffee grinder", "phone case",
            "yoga mat", "backpack", "rain jacket", "table fan", "water bottle", "headphones", "toaster",
            "winter boots", "bath towel", "office chair"],
           ["rice cooker", "leather wallet", "sun hat", "gaming mouse", "teapot", "bike helmet", "throw pillow",
            "alarm clock"]),
    "zh": (["蓝色水壶", "跑步鞋", "台灯", "羊毛围巾", "咖啡磨豆机", "手机壳", "瑜伽垫", "双肩包", "雨衣",
            "电风扇", "保温杯", "耳机"],
           ["电饭煲", "皮钱包", "遮阳帽", "游戏鼠标", "茶壶", "自行车头盔"]),
}


def _pool(table, lang, split):
    return table[lang][0 if split == "train" else 1]


def _order_number(rng, split):
    """Order numbers in several formats; CRC32 % 4 == 0 -> test, else train (disjoint)."""
    while True:
        kind = rng.randrange(4)
        digits = "".join(rng.choice("0123456789") for _ in range(7))
        if kind == 0:
            num = rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") + digits
        elif kind == 1:
            num = "#" + digits
        elif kind == 2:
            num = str(rng.randint(1, 9)) + digits
        else:
            num = "SO-" + digits[:6]
        is_test = zlib.crc32(num.encode()) % 4 == 0
        if is_test == (split == "test"):
            return num


ORDER_RE = re.compile(r"(?<![A-Za-z0-9#-])(?:[A-Z][0-9]{7}|#[0-9]{7}|[1-9][0-9]{7}|SO-[0-9]{6})(?![A-Za-z0-9])")


def find_order_numbers(text):
    return ORDER_RE.findall(text)


# ---------------------------------------------------------------- user templates: (train, test) per intent/lang
# sub-request keys: order_status has "with" (an order number) and "ask" (no number: assistant asks for it).
_U = {
    ("order_status", "with", "en"): (
        ["Where is my order {order}?", "Can you check the status of order {order}?", "What's happening with order {order}?",
         "I ordered something last week, the order number is {order}. Where is it?", "Has order {order} shipped yet?",
         "Tracking for {order} please.", "My order {order} hasn't arrived.", "Status of {order}?",
         "Could you look up order {order} for me?", "I'd like an update on my order {order}."],
        ["Any news about order {order}?", "When will {order} be delivered?", "Please tell me where order {order} is now.",
         "I'm still waiting for my package, order {order}.", "Is order {order} on its way?"]),
    ("order_status", "with", "zh"): (
        ["我的订单{order}到哪里了？", "帮我查一下订单{order}的状态。", "订单{order}发货了吗？", "请问订单{order}现在怎么样了？",
         "我上周买的东西，订单号是{order}，还没收到。", "查询订单{order}", "订单号{order}，物流到哪了？",
         "麻烦看一下{order}这个订单。", "我想知道订单{order}的进度。", "订单{order}什么时候能到？"],
        ["订单{order}有消息吗？", "请帮我跟踪一下订单{order}。", "我一直在等包裹，订单号{order}。", "{order}这个单子到哪一步了？",
         "能告诉我订单{order}现在在哪里吗？"]),
    ("order_status", "ask", "en"): (
        ["Where is my order?", "My package hasn't arrived yet.", "Can you check my order status?", "I want to track my order.",
         "When will my order arrive?", "Has my order shipped?"],
        ["Any update on my delivery?", "I'm still waiting for my parcel.", "Could you tell me where my package is?"]),
    ("order_status", "ask", "zh"): (
        ["我的订单到哪了？", "包裹还没到。", "帮我查一下订单状态。", "我想查物流。", "我的订单什么时候到？", "我的东西发货了吗？"],
        ["我的快递有更新吗？", "我还在等我的包裹。", "能帮我看看包裹在哪里吗？"]),
    ("returns_refunds", "-", "en"): (
        ["I want to return my {product}.", "How do I get a refund for the {product}?", "The {product} is broken, can I send it back?",
         "Can I return an item?", "I'd like my money back for the {product}.", "What is your return policy?",
         "The {product} doesn't fit, I want to return it.", "How long does a refund take?",
         "I received the wrong {product}, I need a refund.", "Please refund my {product}."],
        ["Is it possible to send back the {product} I bought?", "I changed my mind about the {product}, can I get a refund?",
         "The {product} arrived damaged and I want my money returned.", "How can I return something?",
         "Refund for a {product}, how does it work?"]),
    ("returns_refunds", "-", "zh"): (
        ["我想退货，{product}有问题。", "{product}怎么退款？", "{product}坏了，可以退吗？", "可以退货吗？", "我要退{product}的钱。",
         "你们的退货政策是什么？", "{product}尺寸不合适，我想退掉。", "退款要多久？", "收到的{product}不对，我要退款。",
         "请给我的{product}退款。"],
        ["我买的{product}能退回去吗？", "我不想要{product}了，能退款吗？", "{product}到货就坏了，把钱退给我。",
         "怎么办理退货？", "{product}退款流程是怎样的？"]),
    ("shipping", "time", "en"): (
        ["How long does shipping take to {city}?", "How many days for delivery?", "When will things arrive if I order today?",
         "What is the delivery time to {city}?", "How fast do you ship?", "Do you offer express delivery to {city}?"],
        ["If I buy now, how soon will it reach {city}?", "How quickly can you deliver to {city}?", "What are your delivery times?"]),
    ("shipping", "time", "zh"): (
        ["寄到{city}要多久？", "发货要几天？", "今天下单什么时候能到？", "到{city}的配送时间是多少？", "你们发货快吗？",
         "{city}可以加急配送吗？"],
        ["现在买的话多久能送到{city}？", "送到{city}最快要几天？", "一般几天能收到货？"]),
    ("shipping", "cost", "en"): (
        ["How much is shipping to {city}?", "Is delivery free?", "What does shipping cost?", "Do you charge for delivery to {city}?",
         "What are the shipping fees?", "Is there free shipping over some amount?"],
        ["What would delivery to {city} cost me?", "Are there any delivery charges?", "How expensive is shipping?"]),
    ("shipping", "cost", "zh"): (
        ["寄到{city}运费多少？", "包邮吗？", "运费怎么算？", "到{city}要收运费吗？", "快递费是多少？", "满多少包邮？"],
        ["送到{city}需要付多少运费？", "配送要额外收费吗？", "邮费贵吗？"]),
    ("opening_hours", "-", "en"): (
        ["What are your opening hours?", "When are you open?", "Is the store open on Sunday?", "What time do you close today?",
         "Are you open on weekends?", "When does customer service open?", "What time does the shop in {city} open?"],
        ["Until what time can I reach you?", "Which days are you open?", "Is your {city} store open right now?",
         "What hours does your support work?"]),
    ("opening_hours", "-", "zh"): (
        ["你们几点营业？", "营业时间是什么时候？", "周日开门吗？", "今天几点关门？", "周末营业吗？", "客服几点上班？",
         "{city}的门店几点开门？"],
        ["最晚几点能联系到你们？", "你们哪几天开门？", "{city}门店现在开着吗？", "客服的工作时间是几点到几点？"]),
    ("password_reset", "-", "en"): (
        ["I forgot my password.", "How do I reset my password?", "I can't log in to my account.", "My password doesn't work.",
         "Please help me change my password.", "I'm locked out of my account.", "The login keeps failing."],
        ["I don't remember my login password.", "How can I get a new password?", "Signing in is not working for me.",
         "I need to recover my account access."]),
    ("password_reset", "-", "zh"): (
        ["我忘记密码了。", "怎么重置密码？", "我登录不了账号。", "密码不对，进不去。", "请帮我改一下密码。", "我的账户被锁了。",
         "一直登录失败。"],
        ["登录密码想不起来了。", "怎样才能拿到新密码？", "账号登不上去了。", "我需要找回账户。"]),
    ("change_address", "-", "en"): (
        ["I need to change my delivery address.", "Can I update the shipping address to {city}?", "I moved to {city}, please change my address.",
         "How do I change the address on my order?", "Wrong address on my order, can you fix it?", "Please send it to a different address."],
        ["I'd like the parcel to go to my new place in {city}.", "Can the delivery address still be edited?",
         "The address I entered is wrong, how can I correct it?"]),
    ("change_address", "-", "zh"): (
        ["我要修改收货地址。", "能把地址改成{city}吗？", "我搬到{city}了，请改一下地址。", "怎么修改订单地址？",
         "订单地址填错了，能改吗？", "请寄到另一个地址。"],
        ["我想把包裹寄到{city}的新家。", "收货地址还能改吗？", "地址写错了，怎么更正？"]),
    ("human_handoff", "-", "en"): (
        ["I want to speak to a human.", "Can I talk to a real person?", "Connect me with a manager.", "Write me a poem about cats.",
         "What's the weather tomorrow?", "I want to file a legal complaint.", "Can you help me with my tax return?",
         "I need to speak with someone about a complaint.", "Tell me a joke.", "Who will win the football game?"],
        ["Please put me through to an agent.", "I'd rather chat with a person, not a bot.", "Can you recommend a good movie?",
         "Help me plan my holiday.", "I have a complicated problem that needs a supervisor."]),
    ("human_handoff", "-", "zh"): (
        ["我要找人工客服。", "能让真人跟我说话吗？", "帮我转接经理。", "给我写一首关于猫的诗。", "明天天气怎么样？", "我要投诉，走法律程序。",
         "你能帮我报税吗？", "我要投诉，找个人来处理。", "给我讲个笑话。", "谁会赢这场足球比赛？"],
        ["请帮我转人工。", "我不想跟机器人聊，我要真人。", "推荐一部好看的电影吧。", "帮我规划一下旅行。", "我的问题很复杂，需要主管处理。"]),
    ("greeting", "-", "en"): (
        ["Hello!", "Hi there.", "Good morning.", "Hey, I'm {name}.", "Hi, this is {name}.", "Hello, anyone there?", "Good evening!"],
        ["Greetings!", "Hi, my name is {name}.", "Hey hello.", "Good afternoon."]),
    ("greeting", "-", "zh"): (
        ["你好！", "您好。", "早上好。", "嗨，我是{name}。", "你好，我叫{name}。", "在吗？", "晚上好！"],
        ["哈喽！", "您好，我是{name}。", "嗨，你好。", "下午好。"]),
    ("thanks", "-", "en"): (
        ["Thanks!", "Thank you very much.", "Great, thanks for the help.", "OK, thank you.", "Perfect, thanks {name} here.",
         "Thanks a lot, bye."],
        ["Cheers, that helps.", "Many thanks!", "Thank you, that's all.", "Appreciate it."]),
    ("thanks", "-", "zh"): (
        ["谢谢！", "非常感谢。", "好的，谢谢帮忙。", "好，谢谢你。", "太好了，谢谢。", "多谢，再见。"],
        ["感谢你的帮助。", "谢谢啦！", "好的谢谢，就这些。", "辛苦了，谢谢。"]),
}
# Follow-up turn giving only the order number (after the assistant asked for it).
_U_NUMBER = {
    "en": (["It's {order}.", "The order number is {order}.", "{order}", "Sure, {order}.", "Order number: {order}"],
           ["Here you go: {order}", "My number is {order}.", "It should be {order}."]),
    "zh": (["订单号是{order}。", "{order}", "是{order}。", "好的，{order}。", "订单号：{order}"],
           ["给你：{order}", "我的订单号是{order}。", "应该是{order}。"]),
}
# Optional prefixes for the first user turn (disjoint per split).
_PREFIX = {
    "en": (["Hi, ", "Hello, ", "Hi there, ", "Excuse me, "], ["Hey, ", "Good day, "]),
    "zh": (["你好，", "您好，", "打扰一下，", "请问，"], ["哈喽，", "嗨，"]),
}
_PREFIX_OK = {"order_status", "returns_refunds", "shipping", "opening_hours", "password_reset", "change_address",
              "human_handoff"}

# ---------------------------------------------------------------- assistant replies (shared; {order} slot)
_R = {
    ("order_status", "with", "en"): ["I checked order {order}: it has shipped and is on its way. You will get a tracking email soon.",
                                     "Order {order} is on its way. The tracking link is in your confirmation email."],
    ("order_status", "with", "zh"): ["我查了订单{order}：已经发货，正在配送中。物流信息会通过邮件发给您。",
                                     "订单{order}正在配送中，物流链接在您的确认邮件里。"],
    ("order_status", "ask", "en"): ["Sure, I can check that. What is your order number?"],
    ("order_status", "ask", "zh"): ["好的，我来帮您查。请问您的订单号是多少？"],
    ("returns_refunds", "-", "en"): ["You can return items within 30 days. Start a return under My Orders; the refund reaches your account 5-7 days after we receive the item."],
    ("returns_refunds", "-", "zh"): ["商品签收后30天内可以退货。请在“我的订单”里申请退货，我们收到商品后5-7天内退款到原账户。"],
    ("shipping", "time", "en"): ["Standard delivery takes 3-5 business days, express delivery 1-2 business days."],
    ("shipping", "time", "zh"): ["普通配送需要3-5个工作日，加急配送1-2个工作日。"],
    ("shipping", "cost", "en"): ["Standard shipping costs 4.90 and is free for orders over 50. Express shipping costs 9.90."],
    ("shipping", "cost", "zh"): ["普通运费4.90元，订单满50元包邮。加急配送运费9.90元。"],
    ("opening_hours", "-", "en"): ["We are open Monday to Saturday, 9:00 to 18:00. Online chat is available every day."],
    ("opening_hours", "-", "zh"): ["我们周一至周六9:00到18:00营业，在线客服每天都可以联系。"],
    ("password_reset", "-", "en"): ["Click \"Forgot password\" on the login page and we will email you a reset link. The link is valid for 24 hours."],
    ("password_reset", "-", "zh"): ["请在登录页点击“忘记密码”，我们会把重置链接发到您的邮箱，链接24小时内有效。"],
    ("change_address", "-", "en"): ["You can change the delivery address under My Orders until the order ships. After that, please contact the carrier."],
    ("change_address", "-", "zh"): ["订单发货前，您可以在“我的订单”里修改收货地址。发货后请联系快递公司。"],
    ("human_handoff", "-", "en"): ["I can't help with that here. I'm connecting you to a human agent now; please stay in the chat."],
    ("human_handoff", "-", "zh"): ["这个问题我无法处理，正在为您转接人工客服，请稍候。"],
    ("greeting", "-", "en"): ["Hello! How can I help you today?"],
    ("greeting", "-", "zh"): ["您好！请问有什么可以帮您？"],
    ("thanks", "-", "en"): ["You're welcome! Is there anything else I can help with?"],
    ("thanks", "-", "zh"): ["不客气！还有其他可以帮您的吗？"],
}

_SUBS = {}
for (_i, _s, _l) in _U:
    _SUBS.setdefault(_i, [])
    if _s not in _SUBS[_i]:
        _SUBS[_i].append(_s)


def reply_templates(intent=None, lang=None):
    out = []
    for (i, s, l), ts in _R.items():
        if (intent is None or i == intent) and (lang is None or l == lang):
            out.extend((i, l, t) for t in ts)
    return out


def match_reply(text, lang):
    """(intent, order) if text is exactly a reply template of language `lang` with its slot filled."""
    text = text.strip()
    for i, l, t in reply_templates(lang=lang):
        if "{order}" in t:
            a, b = t.split("{order}")
            if text.startswith(a) and text.endswith(b) and len(text) > len(a) + len(b):
                order = text[len(a):len(text) - len(b)]
                if ORDER_RE.fullmatch(order):
                    return i, order
        elif text == t:
            return i, None
    return None


# ---------------------------------------------------------------- generation
def _idx(split):
    return 0 if split == "train" else 1


def _request(rng, split, lang, intent=None):
    """An underlying request: intent, sub-request and slot values."""
    if intent is None:
        intent = rng.choices(INTENTS, weights=[4, 2, 2, 1, 1, 1, 2, 1, 1])[0]
    sub = rng.choice(_SUBS[intent])
    slots = {"order": _order_number(rng, split),
             "name": rng.choice(_pool(_NAMES, lang, split)),
             "city": rng.choice(_pool(_CITIES, lang, split)),
             "product": rng.choice(_pool(_PRODUCTS, lang, split))}
    return intent, sub, slots


def _test_values(lang):
    """The test split's names, cities and products, which training must never use."""
    return {"name": _NAMES[lang][1], "city": _CITIES[lang][1], "product": _PRODUCTS[lang][1]}


def _grammar_turn(rng, split, grammar_share):
    """Whether this training turn is written by the grammar (draws from rng only when the grammar is on)."""
    return split == "train" and grammar_share > 0 and rng.random() < grammar_share


def _realise(rng, split, lang, intent, sub, slots, template=None, prefix_ok=False, grammar_share=0.0):
    if template is None and _grammar_turn(rng, split, grammar_share):
        if rng.random() < 0.5:
            slots = dict(slots, **grammar.extra_slots(rng, lang, _test_values(lang)))
        text = grammar.realise(rng, (intent, sub, lang), slots, _U[(intent, sub, lang)][1])
    else:
        templates = _U[(intent, sub, lang)][_idx(split)]
        t = template if template is not None else rng.choice(templates)
        text = t.format(**slots)
    if prefix_ok and intent in _PREFIX_OK and rng.random() < 0.25:
        text = rng.choice(_PREFIX[lang][_idx(split)]) + (text[0].lower() + text[1:] if lang == "en" and not text.startswith(("I ", "I'", slots["order"])) else text)
    return _augment(rng, split, lang, text)


def _augment(rng, split, lang, text):
    """Train split only: sometimes casual writing (lower case, no final punctuation)."""
    if split != "train":
        return text
    r = rng.random()
    if r < 0.08 and lang == "en":
        low = text.lower()
        for num in find_order_numbers(text):
            low = low.replace(num.lower(), num)
        text = low
    elif r < 0.16 and text[-1] in ".?!。？！":
        text = text[:-1]
    return text


def _reply(rng, intent, sub, lang, order):
    t = rng.choice(_R[(intent, sub, lang)])
    return t.format(order=order) if "{order}" in t else t


def _gid(split, intent, sub, slots, n):
    o = slots["order"] if (intent, sub) == ("order_status", "with") else "-"
    return "%s:%s:%s:%s:%d" % (split, intent, sub, o, n)


def generate(split, n, seed, lang=None, grammar_share=0.0):
    """grammar_share: fraction of training user turns written by shopdata.grammar instead of the templates
    (0 reproduces the generator the intent-bert model was trained with; the test split ignores it)."""
    assert split in ("train", "test")
    rng = random.Random("%s-%d" % (split, seed))
    convs = []
    for k in range(n):
        lg = lang or rng.choice(LANGS)
        turns = rng.choices([1, 2, 3], weights=[5, 3, 2])[0]
        msgs = []
        last_intent = None
        for t in range(turns):
            if t == 0 and rng.random() < 0.15:
                intent = "greeting"
            elif t > 0 and last_intent not in ("thanks", "greeting") and rng.random() < 0.3:
                intent = "thanks"
            else:
                intent = None
                while intent is None or intent in ("greeting", "thanks"):
                    intent = rng.choices(INTENTS, weights=[4, 2, 2, 1, 1, 1, 2, 1, 1])[0]
            intent, sub, slots = _request(rng, split, lg, intent)
            text = _realise(rng, split, lg, intent, sub, slots, prefix_ok=(t == 0), grammar_share=grammar_share)
            order = slots["order"] if (intent, sub) == ("order_status", "with") else None
            msgs.append({"role": "user", "content": text, "intent": intent, "lang": lg, "order": order,
                         "group": _gid(split, intent, sub, slots, k)})
            msgs.append({"role": "assistant", "content": _reply(rng, intent, sub, lg, order), "intent": intent})
            last_intent = intent
            if (intent, sub) == ("order_status", "ask") and t < turns - 1:
                # the user answers with the number
                order = _order_number(rng, split)
                if _grammar_turn(rng, split, grammar_share):
                    text = grammar.realise(rng, ("order_status", "number", lg), {"order": order}, _U_NUMBER[lg][1])
                else:
                    text = rng.choice(_U_NUMBER[lg][_idx(split)]).format(order=order)
                text = _augment(rng, split, lg, text)
                msgs.append({"role": "user", "content": text, "intent": "order_status", "lang": lg, "order": order,
                             "group": "%s:order_status:number:%s:%d" % (split, order, k)})
                msgs.append({"role": "assistant", "content": _reply(rng, "order_status", "with", lg, order),
                             "intent": "order_status"})
                break
        convs.append(msgs)
    return convs


def user_turns(split, n, seed, lang=None):
    rng = random.Random("turns-%s-%d" % (split, seed))
    out = []
    for k in range(n):
        lg = lang or rng.choice(LANGS)
        intent, sub, slots = _request(rng, split, lg)
        text = _realise(rng, split, lg, intent, sub, slots, prefix_ok=True)
        order = slots["order"] if (intent, sub) == ("order_status", "with") else None
        out.append({"text": text, "intent": intent, "lang": lg, "order": order,
                    "group": _gid(split, intent, sub, slots, k)})
    return out


def paraphrase_groups(split, n_groups, per_group, seed, langs=("en", "zh")):
    """Each group: one request realised with `per_group` distinct templates in each language of `langs`.
    Slot values are drawn per language (names/cities differ by language) but the intent, sub-request and
    order number are shared, so all members are paraphrases of the same request."""
    rng = random.Random("groups-%s-%d" % (split, seed))
    groups = []
    for k in range(n_groups):
        intent = rng.choices(INTENTS, weights=[4, 2, 2, 1, 1, 1, 2, 1, 1])[0]
        sub = rng.choice(_SUBS[intent])
        order = _order_number(rng, split)
        members = []
        for lg in langs:
            slots = {"order": order, "name": rng.choice(_pool(_NAMES, lg, split)),
                     "city": rng.choice(_pool(_CITIES, lg, split)),
                     "product": rng.choice(_pool(_PRODUCTS, lg, split))}
            temps = list(_U[(intent, sub, lg)][_idx(split)])
            rng.shuffle(temps)
            for t in temps[:per_group]:
                members.append({"text": t.format(**slots), "intent": intent, "lang": lg,
                                "order": order if (intent, sub) == ("order_status", "with") else None,
                                "group": "%s:g%d:%s:%s" % (split, k, intent, sub)})
        groups.append(members)
    return groups


def _self_check():
    for (i, s, l), (tr, te) in _U.items():
        assert not set(tr) & set(te), (i, s, l)
    for tab in (_NAMES, _CITIES, _PRODUCTS):
        for l in LANGS:
            assert not set(tab[l][0]) & set(tab[l][1])
    for (slot, l), values in grammar.VALUES.items():
        assert not set(values or []) & set(_test_values(l)[slot]), (slot, l)
    tr = generate("train", 2000, 0)
    te = generate("test", 500, 0)
    tro = {m["order"] for c in tr for m in c if m["role"] == "user" and m["order"]}
    teo = {m["order"] for c in te for m in c if m["role"] == "user" and m["order"]}
    assert not tro & teo
    for c in tr + te:
        for m in c:
            if m["role"] == "assistant":
                lg = c[0]["lang"]
                got = match_reply(m["content"], lg)
                assert got is not None and got[0] == m["intent"], (m, got)
            elif m["order"]:
                assert find_order_numbers(m["content"]) == [m["order"]], m
    assert generate("test", 5, 1) == generate("test", 5, 1)
    assert generate("test", 50, 3) == generate("test", 50, 3, grammar_share=0.7)
    gr = generate("train", 4000, 0, grammar_share=0.7)
    forbidden = [grammar.template_regex(t) for k, (_, te) in _U.items() for t in te]
    forbidden += [grammar.template_regex(t) for l in LANGS for t in _U_NUMBER[l][1]]
    for c in gr:
        for m in c:
            if m["role"] == "user":
                assert not any(r.fullmatch(m["content"]) for r in forbidden), m
                assert find_order_numbers(m["content"]) == ([m["order"]] if m["order"] else []), m
    print("shopdata self-check ok:", len(tr), "train,", len(te), "test conversations;",
          len(tro), "train order numbers,", len(teo), "test order numbers")


if __name__ == "__main__":
    _self_check()
    import json
    for c in generate("test", 3, 0):
        print(json.dumps(c, ensure_ascii=False))


# ---------------------------------------------------------------- extra TRAIN-only templates (added after the
# first training run to widen training vocabulary; the test templates above were not changed).
_EXTRA_TRAIN = {
    ("order_status", "with", "en"): [
        "Where's {order}?", "I need an update for order {order}.", "What's the delivery status of {order}?",
        "Can you find order {order}? It's late.", "Could you track order number {order}?",
        "My parcel with order number {order} is missing.", "Check order {order} please, it should have arrived yesterday.",
        "Order {order} still not here, what's going on?", "Any info on my purchase {order}?",
        "How long until order {order} gets to me?"],
    ("order_status", "with", "zh"): [
        "{order}到哪了？", "订单{order}怎么还没到？", "帮我看看{order}的物流。", "我的包裹{order}丢了吗？",
        "订单号{order}，请帮我查下快递。", "{order}这个订单还要多久？", "订单{order}昨天就该到了。",
        "请查询订单号{order}的配送情况。", "我买的东西订单{order}，现在在哪？"],
    ("order_status", "ask", "en"): [
        "Where's my stuff?", "My delivery is late.", "I haven't received my order.", "Can you track my package?",
        "What's the status of my purchase?", "My parcel is missing."],
    ("order_status", "ask", "zh"): [
        "我的东西怎么还没到？", "快递太慢了。", "我没收到货。", "帮我跟踪一下包裹。", "我买的东西现在什么情况？", "包裹丢了吗？"],
    ("returns_refunds", "-", "en"): [
        "Can I send the {product} back?", "I'm not happy with the {product}, I want a refund.",
        "Where do I return the {product}?", "Money back for my {product}, please.", "Do you accept returns?",
        "The {product} is faulty.", "I want to exchange or return the {product}.", "When will I get my refund?",
        "Can I get my money back for an item?"],
    ("returns_refunds", "-", "zh"): [
        "{product}可以退吗？", "我对{product}不满意，要退款。", "{product}在哪里办理退货？", "请退{product}的钱。",
        "你们支持退货吗？", "{product}有质量问题。", "我想退换{product}。", "退款什么时候到账？", "东西不想要了，能退钱吗？"],
    ("shipping", "time", "en"): [
        "How soon can you ship to {city}?", "What's the delivery time?", "How long until it arrives in {city}?",
        "How many business days does delivery take?", "Can I get it delivered to {city} by Friday?",
        "Is next-day delivery possible?"],
    ("shipping", "time", "zh"): [
        "多久能送到{city}？", "配送要多长时间？", "几天能到{city}？", "送货需要几个工作日？", "周五前能送到{city}吗？",
        "可以次日达吗？"],
    ("shipping", "cost", "en"): [
        "Shipping price to {city}?", "Do I have to pay for shipping?", "How much do you charge to deliver to {city}?",
        "Is shipping free to {city}?", "What's the delivery fee?", "How much extra for express shipping?"],
    ("shipping", "cost", "zh"): [
        "{city}运费多少钱？", "要付运费吗？", "送到{city}收多少钱？", "{city}包邮吗？", "配送费多少？", "加急要加多少钱？"],
    ("opening_hours", "-", "en"): [
        "When do you open tomorrow?", "Are you open today?", "What are the store hours in {city}?",
        "Can I call support at night?", "Do you open on public holidays?", "What time does the store close?"],
    ("opening_hours", "-", "zh"): [
        "明天几点开门？", "今天营业吗？", "{city}店的营业时间？", "晚上能打客服电话吗？", "节假日开门吗？", "商店几点关门？"],
    ("password_reset", "-", "en"): [
        "I can't sign in.", "Reset password please.", "I lost my password.", "My account won't let me log in.",
        "How do I recover my password?", "Forgot my login details."],
    ("password_reset", "-", "zh"): [
        "我登不进去。", "请重置密码。", "密码丢了。", "账户登录不了。", "怎么找回密码？", "忘了登录信息。"],
    ("change_address", "-", "en"): [
        "Can I change where my order is delivered?", "Update my address to {city}, please.", "I gave the wrong address.",
        "Please deliver to my office in {city} instead.", "How can I edit my shipping address?", "New address for my order."],
    ("change_address", "-", "zh"): [
        "能改一下送货地址吗？", "请把地址更新为{city}。", "我地址填错了。", "请改寄到{city}的公司。", "怎么编辑收货地址？", "订单要换新地址。"],
    ("human_handoff", "-", "en"): [
        "Let me talk to your boss.", "I need a real human.", "Transfer me to customer service staff.",
        "Can you do my homework?", "What's the capital of France?", "Sing me a song.", "Book a flight to {city} for me.",
        "I want to report a serious problem to a person.", "What stocks should I buy?", "Can you fix my computer?",
        "Give me a recipe for dinner.", "Translate this letter for me."],
    ("human_handoff", "-", "zh"): [
        "让你们领导来。", "我需要真人客服。", "帮我转给客服人员。", "你能帮我写作业吗？", "法国的首都是哪里？", "给我唱首歌。",
        "帮我订一张去{city}的火车票。", "我要向人反映一个严重的问题。", "买什么股票好？", "你能修电脑吗？", "告诉我晚饭怎么做。",
        "帮我翻译这封信。"],
    ("greeting", "-", "en"): ["Hey!", "Hello, I'm {name}.", "Morning!", "Hi, I need some help.", "Hi, {name} here."],
    ("greeting", "-", "zh"): ["嗨！", "你好，我是{name}。", "早！", "你好，我需要帮助。", "我是{name}，你好。"],
    ("thanks", "-", "en"): ["Thanks so much!", "Thank you, bye.", "That's helpful, thank you.", "Awesome, thanks.",
                            "Thanks, have a nice day.", "Got it, thanks."],
    ("thanks", "-", "zh"): ["太感谢了！", "谢谢，拜拜。", "很有帮助，谢谢。", "好的，明白了，谢谢。", "谢谢，祝你愉快。", "收到，谢谢。"],
}
for _k, _extra in _EXTRA_TRAIN.items():
    _tr, _te = _U[_k]
    assert not set(_extra) & set(_te), _k
    _U[_k] = (_tr + [t for t in _extra if t not in _tr], _te)
