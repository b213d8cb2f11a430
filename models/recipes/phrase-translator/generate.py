"""Greedy and beam-search decoding with Hugging Face generate() semantics for the Marian model
(decoder_start = pad, NoBadWords([[pad]]), ForcedEOS at max_length-1, beam search as the current
transformers implementation: 2*num_beams candidates, length-normalised finished scores, early_stopping)."""
import torch
import torch.nn.functional as F

NEG_INF = float("-inf")


def process(scores, cur_len, pad, eos, max_length):
    """Logits processors in HF order: NoBadWordsLogitsProcessor then ForcedEOSTokenLogitsProcessor."""
    scores = scores.clone()
    scores[:, pad] = NEG_INF
    if cur_len == max_length - 1:
        scores[:, :] = NEG_INF
        scores[:, eos] = 0.0
    return scores


@torch.no_grad()
def greedy(model, input_ids, attention_mask, pad, eos, max_length=64, use_cache=True):
    """input_ids [B,S] (right padded). Returns list of id lists as HF returns them
    (leading decoder_start_token_id, trailing eos; finished rows padded with pad, trailing pads removed)."""
    b = input_ids.shape[0]
    enc = model.encode(input_ids, attention_mask)
    seqs = torch.full((b, 1), pad, dtype=torch.long)
    done = torch.zeros(b, dtype=torch.bool)
    past = None
    while seqs.shape[1] < max_length:
        if use_cache:
            logits, past = model.decode(seqs[:, -1:], enc, attention_mask, past)
        else:
            logits, _ = model.decode(seqs, enc, attention_mask)
        scores = process(logits[:, -1, :], seqs.shape[1], pad, eos, max_length)
        nxt = scores.argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
        seqs = torch.cat([seqs, nxt[:, None]], 1)
        done |= nxt == eos
        if done.all():
            break
    out = []
    for row in seqs.tolist():
        if eos in row:
            row = row[:row.index(eos) + 1]
        out.append(row)
    return out


@torch.no_grad()
def first_step_logits(model, input_ids, attention_mask, pad):
    enc = model.encode(input_ids, attention_mask)
    logits, _ = model.decode(torch.full((input_ids.shape[0], 1), pad, dtype=torch.long), enc, attention_mask)
    return logits[:, 0, :]


@torch.no_grad()
def beam_search(model, input_ids, pad, eos, num_beams=4, max_length=64, length_penalty=1.0, early_stopping=True,
                num_return_sequences=4):
    """One source sentence (input_ids [1,S]). Returns [(ids, score)] in score order."""
    nb = num_beams
    ids = input_ids.repeat(nb, 1)
    mask = torch.ones_like(ids)
    enc = model.encode(ids, mask)
    prompt_len = 1
    running = torch.full((nb, 1), pad, dtype=torch.long)
    running_scores = torch.tensor([0.0] + [-1e9] * (nb - 1), dtype=torch.float32)
    fin_seqs = [None] * nb
    fin_scores = torch.full((nb,), -1e9, dtype=torch.float32)
    is_fin = torch.zeros(nb, dtype=torch.bool)
    unsat = True
    top_mask = torch.tensor([True] * nb + [False] * nb)
    cur_len = 1
    while cur_len < max_length:
        logits, _ = model.decode(running, enc, mask)
        logp = F.log_softmax(logits[:, -1, :].float(), dim=-1)
        logp = process(logp, cur_len, pad, eos, max_length)
        vocab = logp.shape[-1]
        acc = (logp + running_scores[:, None]).reshape(-1)
        top_vals, top_idx = torch.topk(acc, 2 * nb)
        beam_idx, tok = top_idx // vocab, top_idx % vocab
        cand = torch.cat([running[beam_idx], tok[:, None]], 1)
        hits = (tok == eos) | (cur_len + 1 >= max_length)
        # running beams for the next step
        run_lp = top_vals + hits.float() * -1e9
        nxt = torch.topk(run_lp, nb)[1]
        new_running, new_running_scores = cand[nxt], run_lp[nxt]
        # finished beams
        fl = top_vals / ((cur_len + 1 - prompt_len) ** length_penalty)
        full = bool(is_fin.all()) and early_stopping is True
        fl = fl + float(full) * -1e9
        fl = fl + float(not unsat) * -1e9
        just = hits & top_mask
        fl = fl + (~just).float() * -1e9
        merged_scores = torch.cat([fin_scores, fl])
        merged_seqs = fin_seqs + [cand[i].tolist() for i in range(2 * nb)]
        merged_fin = torch.cat([is_fin, just])
        keep = torch.topk(merged_scores, nb)[1]
        fin_seqs = [merged_seqs[int(k)] for k in keep]
        fin_scores = merged_scores[keep]
        is_fin = merged_fin[keep]
        running, running_scores = new_running, new_running_scores
        cur_len += 1
        best_len = cur_len - prompt_len
        best_possible = running_scores[0] / (best_len ** length_penalty)
        worst = torch.where(is_fin, fin_scores.min(), torch.tensor(-1e9))
        unsat = unsat and bool((best_possible > worst).any())
        if not unsat or (bool(is_fin.all()) and early_stopping is True) or bool(hits.all()):
            break
    return [(fin_seqs[i], float(fin_scores[i])) for i in range(num_return_sequences)]
