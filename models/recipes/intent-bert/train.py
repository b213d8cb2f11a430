"""Train intent-bert: WordPiece vocabulary + small BERT, intent cross-entropy + in-batch contrastive loss on
the masked-mean-pooled last hidden state. Writes the tokenizer/config files into models/intent-bert/ and the
trained weights to .tmp/intent-bert/model.pt (export.py turns them into ONNX)."""
import json, math, os, random, sys, time
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
OUT = os.path.join(ROOT, "models", "intent-bert")
WORK = os.path.join(ROOT, ".tmp", "intent-bert")
sys.path.insert(0, HERE)
from bert_tok import BertTokenizer, train_wordpiece, tokenizer_json, SPECIALS  # noqa: E402
from modeling import BertForSequenceClassification, mean_pool  # noqa: E402


SEED = 1234
TRAIN_SECONDS = float(os.environ.get("TRAIN_SECONDS", 23 * 60))
MAX_STEPS = int(os.environ.get("MAX_STEPS", 100000))
VOCAB_SIZE = int(os.environ.get("VOCAB_SIZE", 6000))
BATCH_GROUPS = 32  # each batch = 32 paraphrase groups x 2 members (contrastive + CE)
EXTRA_CE = 16  # + 16 random training rows (CE only)
MAX_LEN = 128
LR = 5e-4
TAU = 0.05
CONTRASTIVE_WEIGHT = 1.0


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def base_config(vocab_size, labels):
    return {
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "vocab_size": vocab_size,
        "hidden_size": 256,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "intermediate_size": 1024,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": MAX_LEN,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "use_cache": False,
        "classifier_dropout": None,
        "problem_type": "single_label_classification",
        "id2label": {str(i): l for i, l in enumerate(labels)},
        "label2id": {l: i for i, l in enumerate(labels)},
        "num_labels": len(labels),
        "torch_dtype": "float32",
        "transformers_version": "4.46.0",
    }


def write_model_files(vocab, cfg):
    os.makedirs(OUT, exist_ok=True)
    json.dump(tokenizer_json(vocab), open(os.path.join(OUT, "tokenizer.json"), "w"), ensure_ascii=False)
    ids = {t: i for i, t in enumerate(vocab)}
    tc = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": True,
        "tokenize_chinese_chars": True,
        "strip_accents": None,
        "clean_up_tokenization_spaces": True,
        "model_max_length": MAX_LEN,
        "pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
        "mask_token": "[MASK]",
        "model_input_names": ["input_ids", "token_type_ids", "attention_mask"],
        "added_tokens_decoder": {str(ids[t]): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                               "single_word": False, "special": True} for t in SPECIALS},
    }
    json.dump(tc, open(os.path.join(OUT, "tokenizer_config.json"), "w"), indent=2, ensure_ascii=False)
    json.dump({"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
               "mask_token": "[MASK]"}, open(os.path.join(OUT, "special_tokens_map.json"), "w"), indent=2)
    json.dump(cfg, open(os.path.join(OUT, "config.json"), "w"), indent=2, ensure_ascii=False)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    json.dump(modules, open(os.path.join(OUT, "modules.json"), "w"), indent=2)
    os.makedirs(os.path.join(OUT, "1_Pooling"), exist_ok=True)
    json.dump({"word_embedding_dimension": cfg["hidden_size"], "pooling_mode_cls_token": False,
               "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
               "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
               "pooling_mode_lasttoken": False, "include_prompt": True},
              open(os.path.join(OUT, "1_Pooling", "config.json"), "w"), indent=2)


def collate(tok, texts):
    enc = [tok.encode(t, max_length=MAX_LEN) for t in texts]
    L = max(len(e) for e in enc)
    ids = torch.zeros(len(enc), L, dtype=torch.long)
    mask = torch.zeros(len(enc), L, dtype=torch.long)
    for i, e in enumerate(enc):
        ids[i, : len(e)] = torch.tensor(e)
        mask[i, : len(e)] = 1
    return ids, mask, torch.zeros_like(ids)


def evaluate(model, tok, rows, label2id):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(rows), 128):
            b = rows[i:i + 128]
            ids, mask, tt = collate(tok, [r["text"] for r in b])
            logits, _ = model(ids, mask, tt)
            correct += (logits.argmax(-1) == torch.tensor([label2id[r["intent"]] for r in b])).sum().item()
    model.train()
    return correct / max(1, len(rows))


def main():
    import data  # models/recipes/intent-bert/data.py (adapter over models/recipes/shopdata)
    torch.set_num_threads(1)
    random.seed(SEED); np.random.seed(SEED); torch.manual_seed(SEED)
    os.makedirs(WORK, exist_ok=True)
    t0 = time.time()
    train_rows = data.train_rows()
    labels = data.labels()
    label2id = {l: i for i, l in enumerate(labels)}
    log("train rows", len(train_rows), "labels", len(labels))
    # validation: 5% of the TRAIN paraphrase groups (monitoring only; the test split is never looked at here)
    groups = sorted({r["group"] for r in train_rows})
    rng = random.Random(SEED)
    val_groups = set(rng.sample(groups, max(1, len(groups) // 20)))
    val = [r for r in train_rows if r["group"] in val_groups]
    trn = [r for r in train_rows if r["group"] not in val_groups]

    t = time.time()
    vocab = train_wordpiece([r["text"] for r in train_rows], VOCAB_SIZE)
    tok = BertTokenizer(vocab)
    log("wordpiece vocab", len(vocab), "in %.1fs" % (time.time() - t))
    cfg = base_config(len(vocab), labels)
    write_model_files(vocab, cfg)

    by_group = {}
    for r in trn:
        by_group.setdefault(r["group"], []).append(r)
    multi = [g for g, rs in by_group.items() if len(rs) >= 2]
    log("train groups", len(by_group), "with >=2 members", len(multi))

    model = BertForSequenceClassification(cfg)
    nparams = sum(p.numel() for p in model.parameters())
    log("params", nparams)
    no_decay = [p for n, p in model.named_parameters() if "LayerNorm" in n or n.endswith("bias")]
    decay = [p for n, p in model.named_parameters() if not ("LayerNorm" in n or n.endswith("bias"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=LR)
    warm = 300
    est_steps = MAX_STEPS

    def lr_at(step, frac):
        w = min(1.0, (step + 1) / warm)
        return LR * w * max(0.02, 1.0 - frac)

    model.train()
    step, hist = 0, []
    t_train = time.time()
    while step < MAX_STEPS:
        elapsed = time.time() - t_train
        if elapsed > TRAIN_SECONDS:
            break
        frac = max(elapsed / TRAIN_SECONDS, step / est_steps)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, frac)
        gs = rng.sample(multi, BATCH_GROUPS)
        a, b = [], []
        for g in gs:
            x, y = rng.sample(by_group[g], 2)
            a.append(x); b.append(y)
        extra = [trn[rng.randrange(len(trn))] for _ in range(EXTRA_CE)]  # CE only (incl. single-turn groups)
        rows = a + b + extra
        ids, mask, tt = collate(tok, [r["text"] for r in rows])
        y = torch.tensor([label2id[r["intent"]] for r in rows])
        logits, h = model(ids, mask, tt)
        ce = F.cross_entropy(logits, y)
        e = F.normalize(mean_pool(h, mask), dim=-1)
        ea, eb = e[:BATCH_GROUPS], e[BATCH_GROUPS:2 * BATCH_GROUPS]
        sim = ea @ eb.t() / TAU
        # other pairs asking for the very same request are not negatives
        same = torch.tensor([[ra["request"] == rb["request"] for rb in b] for ra in a])
        sim = sim.masked_fill(same & ~torch.eye(BATCH_GROUPS, dtype=torch.bool), float("-inf"))
        tgt = torch.arange(BATCH_GROUPS)
        con = 0.5 * (F.cross_entropy(sim, tgt) + F.cross_entropy(sim.t(), tgt))
        loss = ce + CONTRASTIVE_WEIGHT * con
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        hist.append((ce.item(), con.item()))
        step += 1
        if step % 200 == 0:
            c, k = np.mean(hist[-200:], axis=0)
            msg = "step %d  %.0fs  lr %.2e  ce %.4f  contrastive %.4f" % (step, time.time() - t_train, opt.param_groups[0]["lr"], c, k)
            if step % 1000 == 0:
                msg += "  val_acc %.4f" % evaluate(model, tok, val, label2id)
            log(msg)
    train_time = time.time() - t_train
    val_acc = evaluate(model, tok, val, label2id)
    log("done: steps %d, train %.0fs, val_acc %.4f" % (step, train_time, val_acc))
    torch.save({"state_dict": model.state_dict(), "config": cfg, "vocab": vocab}, os.path.join(WORK, "model.pt"))
    json.dump({"steps": step, "train_seconds": round(train_time, 1), "total_seconds": round(time.time() - t0, 1),
               "val_intent_accuracy": val_acc, "train_rows": len(trn), "val_rows": len(val), "params": nparams,
               "vocab_size": len(vocab), "batch": 2 * BATCH_GROUPS + EXTRA_CE, "lr": LR, "tau": TAU},
              open(os.path.join(HERE, "train_log.json"), "w"), indent=2)


if __name__ == "__main__":
    main()
