"""Write golden.json from PyTorch (fp32, and int8 = the per-row int8 layout of `npm run models:quantize` computed
by common/rowq.py). GOLDEN_ONLY=1 with an existing OUT_JSON: keep its fp32 part (the training checkpoint's), after
checking that the given checkpoint reproduces its greedy ids; rewrite the int8 part.
Usage: golden.py CKPT MODEL_DIR OUT_JSON"""
import copy
import json
import os
import re
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "common"))
from export import load_model  # noqa: E402
from generate import beam_search, first_step_logits, greedy  # noqa: E402
from tok import Tokenizer  # noqa: E402

import rowq  # noqa: E402

CASES = [
    ">>zho<< delivery on Friday 12 March",
    ">>deu<< Friday 12 March",
    ">>fra<< your order ships in 2 days",
    ">>zho<< 3 items in your basket",
    ">>deu<< total: €1,234.50",
    ">>fra<< only 1 bottle of water left in stock",
    ">>zho<< the shop opens at 9:30 am",
    ">>fra<< this is our 1st customer",
]
NUM_BEAMS = 4


def fake_quant(model):
    """int8 as the _quantized.onnx files compute it (common/rowq.py): every nn.Linear on per-row int8 activations
    and int8 weights per output channel, the shared embedding read as int8 rows times their scales, and the tied
    output projection (the same table, its own MatMul in the graph) as a per-row int8 matmul of the float table's
    int8 form. final_logits_bias stays float, as in the files."""
    q = copy.deepcopy(model)
    q.tied_output = rowq.tied_projection(model.shared.weight)
    rowq.fake_quantize_rows_(q)
    return q


def check_files(model, model_dir):
    """The four _quantized.onnx files hold exactly the fake-quant's int8 weights (each its own subset)."""
    linears = {n: m.weight for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    for name in ("encoder_model", "decoder_model", "decoder_with_past_model", "decoder_model_merged"):
        path = os.path.join(model_dir, "onnx", name + "_quantized.onnx")
        n = rowq.check_against_onnx(list(linears.values()) + [model.shared.weight], path, subset=True)
        print("%s_quantized.onnx: %d int8 tensors, all equal to the fake-quant's" % (name, n))


def r6(x):
    return [float("%.6g" % v) for v in x]


def main():
    ckpt, model_dir, out = sys.argv[1], sys.argv[2], sys.argv[3]
    torch.set_num_threads(1)
    tk = Tokenizer(os.path.join(model_dir, "tokenizer.json"))
    with open(os.path.join(model_dir, "generation_config.json")) as f:
        gen = json.load(f)
    pad, eos, max_length = gen["pad_token_id"], gen["eos_token_id"], gen["max_length"]
    fp32, _ = load_model(ckpt)
    fp32.eval()
    check_files(fp32, model_dir)
    models = {"fp32": fp32, "int8": fake_quant(fp32).eval()}
    cases = []
    for text in CASES:
        ids = tk.encode(text)
        x = torch.tensor([ids])
        mask = torch.ones_like(x)
        case = {"source": text, "target_lang": text[2:5], "input_ids": ids}
        for dt, m in models.items():
            g = greedy(m, x, mask, pad, eos, max_length, use_cache=True)[0]
            g2 = greedy(m, x, mask, pad, eos, max_length, use_cache=False)[0]
            assert g == g2, (text, dt, g, g2)
            beams = beam_search(m, x, pad, eos, num_beams=NUM_BEAMS, max_length=max_length,
                                length_penalty=gen.get("length_penalty", 1.0), early_stopping=gen["early_stopping"],
                                num_return_sequences=NUM_BEAMS)
            case[dt] = {
                "greedy_ids": g,
                "greedy_ids_no_cache": g2,
                "greedy_text": tk.decode(g, skip_special_tokens=True),
                "beam": [{"ids": s, "score": float("%.6g" % sc), "text": tk.decode(s, skip_special_tokens=True)}
                         for s, sc in beams],
                "first_step_logits": r6(first_step_logits(m, x, mask, pad)[0].tolist()),
            }
        cases.append(case)
        print(text, "->", case["fp32"]["greedy_text"], "|", case["int8"]["greedy_text"], flush=True)
    # batch case: all sources right-padded with <pad> into one batch
    seqs = [c["input_ids"] for c in cases]
    n = max(len(s) for s in seqs)
    bx = torch.tensor([s + [pad] * (n - len(s)) for s in seqs])
    bm = torch.tensor([[1] * len(s) + [0] * (n - len(s)) for s in seqs])
    batch = {"sources": CASES, "input_ids": bx.tolist(), "attention_mask": bm.tolist()}
    for dt, m in models.items():
        g = greedy(m, bx, bm, pad, eos, max_length, use_cache=True)
        for row, c in zip(g, cases):
            assert row == c[dt]["greedy_ids"], ("batch differs", dt, row, c[dt]["greedy_ids"])
        batch[dt] = {"greedy_ids": g}
    doc = {
        "model": "phrase-translator",
        "how_inputs_were_built": "input_ids = tokenizer.json encoding of `source` (the target-language token "
                                 ">>zho<< / >>deu<< / >>fra<< prepended to the English text, one space between), "
                                 "with the post-processor appending </s>",
        "special_tokens": {"eos": eos, "unk": tk.vocab["<unk>"], "pad": pad, "decoder_start": gen["decoder_start_token_id"],
                           "lang": {t: tk.added[t] for t in (">>zho<<", ">>deu<<", ">>fra<<")}},
        "generation": {"max_length": max_length, "bad_words_ids": gen["bad_words_ids"],
                       "forced_eos_token_id": gen["forced_eos_token_id"], "num_beams_default": gen["num_beams"],
                       "beam": {"num_beams": NUM_BEAMS, "num_return_sequences": NUM_BEAMS, "length_penalty":
                                gen.get("length_penalty", 1.0), "early_stopping": gen["early_stopping"]}},
        "notes": "Ids are as HF generate() returns them: leading decoder_start_token_id (= pad), trailing eos. "
                 "greedy_ids: incremental decoding with KV cache; greedy_ids_no_cache: full prefix recomputed each "
                 "step. beam: HF beam search, sequences in score order, score = sum of log-probs (log_softmax of "
                 "raw logits, pad masked to -inf) / generated length incl. eos (length_penalty 1.0). "
                 "first_step_logits: raw decoder logits (before processors) for decoder input [decoder_start], "
                 "full vocabulary, 6 significant digits. int8 = torch with the per-row int8 arithmetic of the "
                 "_quantized.onnx files (models/recipes/common/rowq.py: activations quantized per row at run time, "
                 "int8 weights per output channel, integer products exact, embedding rows int8 times their scales).",
        "cases": cases,
        "batch": batch,
    }
    if os.environ.get("GOLDEN_ONLY") and os.path.exists(out):
        with open(out, encoding="utf-8") as f:
            previous = json.load(f)
        for c, before in zip(cases, previous["cases"]):
            assert c["input_ids"] == before["input_ids"] and c["fp32"]["greedy_ids"] == before["fp32"]["greedy_ids"]
            c["fp32"] = before["fp32"]
        assert batch["fp32"] == previous["batch"]["fp32"]
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    text = re.sub(r"\[\s*(-?[0-9][-0-9.e,\s]*?)\s*\]",
                  lambda mm: "[" + ", ".join(v.strip() for v in mm.group(1).split(",")) + "]", text)
    with open(out, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
