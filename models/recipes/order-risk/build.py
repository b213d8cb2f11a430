"""order-risk: a small tabular classifier for the tensor API (Open Inference Protocol).

Scores a web-shop order as fraud-risky or not from 8 numeric features. The data is a seeded
synthetic generator with a known rule plus noise, so held-out accuracy is meaningful.
Writes models/order-risk/ (config.json, onnx/model.onnx) and golden.json + metrics.json here.
Run: /usr/bin/python3 models/recipes/order-risk/build.py   (a few seconds)
"""
import json
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "order-risk")
FEATURES = [
    "order_value_eur",
    "items",
    "account_age_days",
    "previous_orders",
    "shipping_billing_distance_km",
    "failed_payments_24h",
    "night_time",
    "express_shipping",
]


def make_data(n, rng):
    x = np.stack(
        [
            rng.lognormal(4.0, 1.0, n),
            rng.integers(1, 12, n),
            rng.exponential(400, n),
            rng.poisson(3, n),
            rng.exponential(50, n),
            rng.poisson(0.3, n),
            rng.integers(0, 2, n),
            rng.integers(0, 2, n),
        ],
        axis=1,
    ).astype(np.float32)
    score = (
        0.9 * np.log1p(x[:, 0]) / 5
        - 0.8 * np.log1p(x[:, 2]) / 6
        - 0.3 * np.log1p(x[:, 3])
        + 0.6 * np.log1p(x[:, 4]) / 4
        + 0.9 * x[:, 5]
        + 0.4 * x[:, 6]
        + 0.3 * x[:, 7]
    )
    noisy = score + rng.normal(0, 0.15, n)
    return x, (noisy > 0.35).astype(np.int64)


class OrderRisk(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2)
        )

    def forward(self, features):
        # log1p makes the heavy-tailed money and distance features usable without a scaler file.
        logits = self.net(torch.log1p(torch.clamp(features, min=0)))
        return logits, torch.softmax(logits, dim=-1)


def main():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x_train, y_train = make_data(20000, rng)
    x_test, y_test = make_data(4000, np.random.default_rng(1))
    model = OrderRisk()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    for step in range(3000):
        idx = torch.randint(0, len(xt), (256,))
        loss = torch.nn.functional.cross_entropy(model(xt[idx])[0], yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(torch.from_numpy(x_test))[0].argmax(-1).numpy() == y_test).mean()
    print(f"held-out accuracy {accuracy:.4f}")

    os.makedirs(os.path.join(OUT, "onnx"), exist_ok=True)
    torch.onnx.export(
        model,
        (torch.zeros(1, 8),),
        os.path.join(OUT, "onnx", "model.onnx"),
        input_names=["features"],
        output_names=["logits", "probabilities"],
        dynamic_axes={"features": {0: "batch_size"}, "logits": {0: "batch_size"}, "probabilities": {0: "batch_size"}},
        opset_version=14,
    )
    config = {
        "model_type": "order-risk-mlp",
        "architectures": ["OrderRiskMLP"],
        "features": FEATURES,
        "id2label": {"0": "ok", "1": "risky"},
        "label2id": {"ok": 0, "risky": 1},
    }
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(config, f, indent=2)

    cases = x_test[:6]
    with torch.no_grad():
        logits, probs = model(torch.from_numpy(cases))
    golden = {
        "input": {"name": "features", "shape": list(cases.shape), "data": cases.round(4).tolist()},
        "logits": logits.numpy().tolist(),
        "probabilities": probs.numpy().tolist(),
    }
    # The golden inputs are rounded for readability; recompute outputs from exactly those values.
    exact = torch.tensor(golden["input"]["data"], dtype=torch.float32)
    with torch.no_grad():
        logits, probs = model(exact)
    golden["logits"] = logits.numpy().tolist()
    golden["probabilities"] = probs.numpy().tolist()
    with open(os.path.join(HERE, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
    with open(os.path.join(HERE, "metrics.json"), "w") as f:
        json.dump({"heldout_accuracy": round(float(accuracy), 4), "heldout_examples": len(y_test)}, f, indent=2)


if __name__ == "__main__":
    main()
