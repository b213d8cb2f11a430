"""Reference outputs from Hugging Face's own code, for the project's tests:
- fixtures/: test images (PNG RGB / RGBA / grey, JPEG, WebP, non-square, upscaled) and, for each, the
  pixel_values that transformers' ViTImageProcessor (the PIL one) makes of it, as raw float32 (.f32);
- golden.json: for the first held-out scenes (saved as fixtures/heldout-N.png), greedy and beam-4 caption ids
  from VisionEncoderDecoderModel.generate (greedy ones with the top-1 minus top-2 logit of each step), without a prompt and
  with English and Chinese prompts, for the fp32 model and for its int8 twin (common/rowq.py: the per-row
  int8 layout `npm run models:quantize` writes, which is what the *_quantized.onnx files compute); the int8
  weights of those files are checked to be exactly the twin's.
Usage: golden.py HF_DIR MODEL_DIR RECIPE_DIR"""
import io
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from transformers import PreTrainedTokenizerFast, ViTImageProcessorPil, VisionEncoderDecoderModel
from transformers.pytorch_utils import Conv1D

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
import rowq  # noqa: E402
import scenes  # noqa: E402

N_CAPTIONS = 6
PROMPTS = ["", "a photo of", "图中"]


def fake_quantize(m):
    """The int8 twin. GPT-2's Conv1D keeps its weight as [in, out], the MatMul / Gemm weight of the graph, whose
    output channels the quantizer scales: it becomes a RowQuantLinear of the transposed weight. The LM head is
    tied to the token embedding; in the graph it is its own MatMul over the float table's int8 form, so it is
    made from the float table before the embedding itself is rounded."""
    dec = m.decoder
    dec.lm_head = rowq.tied_projection(dec.transformer.wte.weight.detach().clone())
    for name, sub in list(m.named_modules()):
        if isinstance(sub, Conv1D) and sub.weight.numel() >= rowq.MIN_ELEMENTS:
            parent_name, _, attr = name.rpartition(".")
            setattr(m.get_submodule(parent_name), attr, rowq.RowQuantLinear(weight=sub.weight.t(), bias=sub.bias))
    rowq.fake_quantize_rows_(m)
    return m


def quantized_weights(m):
    """The float weights the quantizer makes int8, as [out, in] tensors (rowq.check_against_onnx's form)."""
    out = []
    for sub in m.modules():
        if isinstance(sub, torch.nn.Linear) and sub.weight.numel() >= rowq.MIN_ELEMENTS:
            out.append(sub.weight)
        elif isinstance(sub, Conv1D) and sub.weight.numel() >= rowq.MIN_ELEMENTS:
            out.append(sub.weight.t())
        elif isinstance(sub, torch.nn.Embedding) and sub.weight.numel() >= rowq.MIN_ELEMENTS:
            out.append(sub.weight)
    return out


def fixtures(heldout, out_dir, processor):
    """Encoded test images: name -> bytes."""
    os.makedirs(out_dir, exist_ok=True)
    base = scenes.render(heldout[0])
    other = scenes.render(heldout[1])
    cases = {}

    def save(name, img, fmt, **kw):
        buf = io.BytesIO()
        img.save(buf, fmt, **kw)
        cases[name] = buf.getvalue()

    save("scene.png", base, "PNG")
    save("scene.jpg", other, "JPEG", quality=90)
    save("scene.webp", base, "WEBP", quality=85)
    rgba = other.resize((250, 170), Image.BICUBIC).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((250, 170)))
    save("wide-rgba.png", rgba, "PNG")
    save("grey.png", base.convert("L").resize((120, 140), Image.BICUBIC), "PNG")
    save("small.png", base.resize((60, 45), Image.BICUBIC), "PNG")
    save("palette.png", other.convert("P", palette=Image.ADAPTIVE, colors=32), "PNG")
    # BLIP's processors resample with bicubic: a few images are also referenced through that filter
    bicubic = ViTImageProcessorPil(**{**processor.to_dict(), "resample": Image.BICUBIC})
    for name, data in cases.items():
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
        pixels = processor(images=Image.open(io.BytesIO(data)), return_tensors="np")["pixel_values"][0]
        pixels.astype("<f4").tofile(os.path.join(out_dir, name + ".f32"))
        if name in ("scene.png", "wide-rgba.png", "small.png"):
            pixels = bicubic(images=Image.open(io.BytesIO(data)), return_tensors="np")["pixel_values"][0]
            pixels.astype("<f4").tofile(os.path.join(out_dir, name + ".bicubic.f32"))
    return cases


def captions(m, tok, processor, images, num_beams):
    out = []
    pv = processor(images=images, return_tensors="pt")["pixel_values"]
    for prompt in PROMPTS:
        start = [m.config.decoder_start_token_id] + (tok.encode(prompt) if prompt else [])
        ids = torch.tensor([start] * len(images))
        with torch.no_grad():
            gen = m.generate(pixel_values=pv, decoder_input_ids=ids, num_beams=num_beams, max_new_tokens=40,
                             do_sample=False, output_scores=True, return_dict_in_generate=True)
        for r, row in enumerate(gen.sequences.tolist()):
            new = row[len(start):]
            # a batch's shorter outputs are filled up after their end token: keep up to the first one
            eos = m.config.eos_token_id
            new = new[: new.index(eos) + 1] if eos in new else new
            # the text as the API returns it: the prompt and its continuation
            text = tok.decode(start[1:] + new, skip_special_tokens=True).strip()
            caption = {"prompt": prompt, "ids": new, "text": text}
            if num_beams == 1:
                # greedy's top-1 minus top-2 logit at every step: where it is tiny, float rounding that differs
                # between two correct implementations can pick the other token (the tests allow that there)
                gaps = [torch.topk(step[r], 2).values for step in gen.scores[: len(new)]]
                caption["margins"] = [float("%.4g" % (g[0] - g[1])) for g in gaps]
            out.append(caption)
    return out


def main():
    hf_dir, model_dir, recipe_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    processor = ViTImageProcessorPil.from_pretrained(model_dir)
    tok = PreTrainedTokenizerFast.from_pretrained(model_dir)
    heldout = [json.loads(line) for line in open(os.path.join(recipe_dir, "heldout.jsonl"))]
    cases = fixtures(heldout, os.path.join(recipe_dir, "fixtures"), processor)
    # the whole held-out split as PNG, for the engine's and the API's metrics (eval_onnx.ts, test/metrics)
    os.makedirs(os.path.join(recipe_dir, "heldout"), exist_ok=True)
    for i, spec in enumerate(heldout):
        scenes.render(spec).save(os.path.join(recipe_dir, "heldout", "%03d.png" % i))
    names = []
    for i, spec in enumerate(heldout[:N_CAPTIONS]):
        names.append("heldout-%d.png" % i)
        scenes.render(spec).save(os.path.join(recipe_dir, "fixtures", names[-1]))
    images = [Image.open(os.path.join(recipe_dir, "fixtures", name)).convert("RGB") for name in names]
    weights = quantized_weights(VisionEncoderDecoderModel.from_pretrained(hf_dir))
    for name in ("encoder_model", "decoder_model_merged"):
        n = rowq.check_against_onnx(weights, os.path.join(model_dir, "onnx", name + "_quantized.onnx"), subset=True)
        print("%s_quantized.onnx: %d int8 tensors, all equal to the int8 twin's" % (name, n))
    golden = {"images": names, "prompts": PROMPTS, "fp32": {}, "int8": {}}
    for dtype in ("fp32", "int8"):
        m = VisionEncoderDecoderModel.from_pretrained(hf_dir)
        m.eval()
        if dtype == "int8":
            fake_quantize(m)
        for beams in (1, 4):
            golden[dtype]["greedy" if beams == 1 else "beam4"] = captions(m, tok, processor, images, beams)
    with open(os.path.join(recipe_dir, "golden.json"), "w") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)
    print(json.dumps(golden["fp32"]["greedy"][:3], ensure_ascii=False))


if __name__ == "__main__":
    main()
