# TEMPORARY toy data for pipeline testing (replaced by the shopdata adapter)
import json, os, random
HERE = os.path.dirname(os.path.abspath(__file__))
INT = {"refund": (["i want a refund for order {n}", "please refund order {n}"], ["我想要订单{n}退款", "请给订单{n}退款"]),
       "track": (["where is order {n}", "track my package {n}"], ["订单{n}到哪里了", "帮我查一下包裹{n}"]),
       "cancel": (["cancel order {n}", "i want to cancel {n}"], ["取消订单{n}", "我要取消{n}"])}
def make(seed, lo, hi):
    rng = random.Random(seed); rows = []
    for g in range(300):
        it = rng.choice(sorted(INT)); n = rng.randint(lo, hi)
        for lang, ts in (("en", INT[it][0]), ("zh", INT[it][1])):
            for t in ts: rows.append({"text": t.format(n=n), "intent": it, "language": lang, "group": "%s-%d-%d" % (it, seed, g)})
    return rows
def train_rows(): return make(1, 1000, 4999)
def labels(): return sorted(INT)
if __name__ == "__main__":
    with open(os.path.join(HERE, "heldout.jsonl"), "w") as f:
        for r in make(2, 5000, 9999)[:200]: f.write(json.dumps(r, ensure_ascii=False) + "\n")
