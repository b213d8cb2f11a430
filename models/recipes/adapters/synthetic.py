"""Writes a synthetic LoRA adapter for the shop-assistant base with peft's save_pretrained (for engine tests):
random A and B (seeded), or B all zero (the adapter must then leave every output equal to the base's).

    python synthetic.py OUT_DIR [--r 4] [--alpha 8] [--targets q_proj,v_proj,o_proj,gate_proj,up_proj,down_proj]
                        [--layers 0,1,2,3] [--seed 0] [--std 0.15] [--zero-b]

Then `python golden.py OUT_DIR --out OUT_DIR/golden.json` gives its greedy ids.
"""
import argparse

import torch

import lib


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--r", type=int, default=4)
    ap.add_argument("--alpha", type=float, default=8)
    ap.add_argument("--targets", default="q_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")
    ap.add_argument("--layers", help="comma-separated layer indices (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--std", type=float, default=0.15,
                    help="standard deviation of the random A and B entries (measured at r 4: 0.05 left the greedy ids of "
                         "the default chats unchanged, 0.3 garbled them)")
    ap.add_argument("--zero-b", action="store_true")
    args = ap.parse_args()
    from peft import LoraConfig, get_peft_model
    cfg = LoraConfig(r=args.r, lora_alpha=args.alpha, target_modules=args.targets.split(","), lora_dropout=0.0,
                     bias="none", fan_in_fan_out=False,
                     layers_to_transform=[int(i) for i in args.layers.split(",")] if args.layers else None)
    model = get_peft_model(lib.load_base(), cfg)
    gen = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".lora_A." in name or ".lora_B." in name:
                zero = args.zero_b and ".lora_B." in name
                p.copy_(torch.zeros_like(p) if zero else torch.randn(p.shape, generator=gen) * args.std)
    model.peft_config["default"].base_model_name_or_path = lib.BASE_ID
    model.save_pretrained(args.out_dir)
    print("wrote", args.out_dir)


if __name__ == "__main__":
    main()
