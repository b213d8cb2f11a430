"""Export intent-bert to ONNX (fp32 + int8 via `npm run models:quantize`: per-row int8 activations, int8 weights
per output channel) and write golden.json from PyTorch (fp32 model and the matching fake-quant int8 model of
common/rowq.py). GOLDEN_ONLY=1: keep the ONNX files and golden.json's fp32 part, rewrite the int8 part (after
checking that model_quantized.onnx holds exactly the fake-quant's int8 weights)."""
import copy, json, os, subprocess, sys, time
import numpy as np
import torch
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
OUT = os.path.join(ROOT, "models", "intent-bert")
WORK = os.path.join(ROOT, ".tmp", "intent-bert")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "models", "recipes", "common"))
from bert_tok import BertTokenizer  # noqa: E402
from modeling import BertForSequenceClassification, ExportWrapper, mean_pool  # noqa: E402
import rowq  # noqa: E402

GOLDEN_TEXTS = [
    ("en", "Hi, I want a refund for the headphones I bought last week."),
    ("en", "Where is my package? It still hasn't arrived."),
    ("en", "Can I change the delivery address on my order?"),
    ("en", "Please cancel my order, I don't need it anymore."),
    ("en", "hello"),
    ("zh", "你好，我想申请退款。"),
    ("zh", "我的包裹到哪里了？还没收到。"),
    ("zh", "能帮我修改一下收货地址吗？"),
    ("zh", "请取消我的订单，谢谢。"),
]
LONG_EN = ("I ordered a pair of running shoes and a rain jacket two weeks ago, the tracking page has not changed "
           "since Monday, and I need them before my trip, so could you tell me where the parcel is and when it "
           "will arrive, or otherwise cancel the order and refund me? ")


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def fake_quant(model):
    """What model_quantized.onnx computes (common/rowq.py): every Linear of >= 1024 weights runs on per-row int8
    activations and int8 weights per output channel, every Embedding table of >= 1024 values is read as int8 rows
    times their scales. Returns the model and the names of the modules done."""
    q = copy.deepcopy(model)
    names = rowq.fake_quantize_rows_(q)
    return q, names


def run(model, tok, texts):
    enc = [tok.encode(t, max_length=128) for t in texts]
    res = []
    with torch.no_grad():
        for e in enc:
            ids = torch.tensor([e])
            mask = torch.ones_like(ids)
            logits, h = model(ids, mask, torch.zeros_like(ids))
            emb = torch.nn.functional.normalize(mean_pool(h, mask), dim=-1)
            res.append((e, logits[0].numpy(), emb[0].numpy()))
    return res


def r6(x):
    return [float("%.6g" % v) for v in np.asarray(x).reshape(-1)]


def main():
    torch.set_num_threads(1)
    ck = torch.load(os.path.join(WORK, "model.pt"))
    cfg, vocab = ck["config"], ck["vocab"]
    model = BertForSequenceClassification(cfg)
    model.load_state_dict(ck["state_dict"])
    model.eval()
    tok = BertTokenizer(vocab)

    # ---- ONNX fp32
    os.makedirs(os.path.join(OUT, "onnx"), exist_ok=True)
    fp32_path = os.path.join(OUT, "onnx", "model.onnx")
    q_path = os.path.join(OUT, "onnx", "model_quantized.onnx")
    if not os.environ.get("GOLDEN_ONLY"):
        export_onnx(model, tok, fp32_path, q_path)
    qmodel, qnames = fake_quant(model)
    qmodel.eval()
    n = rowq.check_against_onnx([model.get_submodule(name).weight for name in qnames], q_path)
    log("int8 weights of model_quantized.onnx equal the fake-quant's:", n, "tensors")
    write_golden(model, qmodel, qnames, tok, cfg)


def export_onnx(model, tok, fp32_path, q_path):
    ids = torch.tensor([tok.encode("where is my order?"), tok.encode("where is my order?")])
    mask = torch.ones_like(ids)
    torch.onnx.export(
        ExportWrapper(model).eval(), (ids, mask, torch.zeros_like(ids)), fp32_path,
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["logits", "last_hidden_state"],
        dynamic_axes={"input_ids": {0: "batch_size", 1: "sequence_length"},
                      "attention_mask": {0: "batch_size", 1: "sequence_length"},
                      "token_type_ids": {0: "batch_size", 1: "sequence_length"},
                      "logits": {0: "batch_size"},
                      "last_hidden_state": {0: "batch_size", 1: "sequence_length"}},
        opset_version=14, do_constant_folding=True)
    m = onnx.load(fp32_path)
    onnx.checker.check_model(m)
    log("fp32 onnx", os.path.getsize(fp32_path))
    subprocess.run(["npm", "run", "--silent", "models:quantize", "--", OUT], check=True, cwd=ROOT)
    onnx.checker.check_model(onnx.load(q_path))
    log("int8 onnx", os.path.getsize(q_path))


def write_golden(model, qmodel, qnames, tok, cfg):
    long_text = ""
    while len(tok.encode(long_text + LONG_EN)) <= 128:
        long_text += LONG_EN
    # trim word by word to land just under the limit
    words = (long_text + LONG_EN).split(" ")
    while len(tok.encode(" ".join(words))) > 126:
        words.pop()
    long_text = " ".join(words)
    items = GOLDEN_TEXTS + [("en", long_text)]
    texts = [t for _, t in items]
    res = {"fp32": run(model, tok, texts), "int8": run(qmodel, tok, texts)}
    id2label = cfg["id2label"]
    golden = {
        "model": "intent-bert",
        "description": "Each input is text -> tokenizer.json (adds [CLS] ... [SEP], no truncation needed: all <= 128 "
                       "tokens), batch of 1, attention_mask all ones, token_type_ids all zeros. 'embedding' is the "
                       "attention-masked mean of last_hidden_state, L2-normalised. fp32 = PyTorch model, int8 = "
                       "PyTorch model with the per-row int8 layout of model_quantized.onnx (common/rowq.py: "
                       "activations quantized per row at run time, int8 weights per output channel, integer "
                       "products exact; embedding tables as int8 rows times their scales).",
        "max_length": 128,
        "special_token_ids": {t: tok.ids[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")},
        "num_labels": cfg["num_labels"],
        "inputs": [{"language": lang, "text": t, "input_ids": r[0], "attention_mask": [1] * len(r[0]),
                    "token_type_ids": [0] * len(r[0])} for (lang, t), r in zip(items, res["fp32"])],
    }
    for dt in ("fp32", "int8"):
        golden[dt] = {
            "logits": [r6(r[1]) for r in res[dt]],
            "embedding": [r6(r[2]) for r in res[dt]],
            "predicted_label": [id2label[str(int(np.argmax(r[1])))] for r in res[dt]],
        }
    golden["int8_fake_quant_modules"] = qnames
    path = os.path.join(HERE, "golden.json")
    if os.environ.get("GOLDEN_ONLY") and os.path.exists(path):
        # the fp32 model is the committed one: keep the fp32 goldens the training checkpoint wrote (a model
        # rebuilt from model.onnx by onnx_to_ckpt.py reproduces them to 1e-4)
        previous = json.load(open(path, encoding="utf-8"))
        assert previous["inputs"] == golden["inputs"]
        assert previous["fp32"]["predicted_label"] == golden["fp32"]["predicted_label"]
        golden["fp32"] = previous["fp32"]
    json.dump(golden, open(os.path.join(HERE, "golden.json"), "w"), ensure_ascii=False, indent=1)
    log("golden written;", "fp32 predictions:", golden["fp32"]["predicted_label"])
    log("int8 predictions:", golden["int8"]["predicted_label"])


if __name__ == "__main__":
    main()
