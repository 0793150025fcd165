"""Train the digit classifier whose features gankit's digit metrics use, and write its weights.

    python scripts/train_digit_classifier.py            # writes gankit/assets/digit_classifier.safetensors

Deterministic on the CPU (fixed seed, fixed split); it fails unless the held-out accuracy is ≥ 98%.
"""

import sys
import time

import torch

from gankit.metrics.classifier import save_weights, train_digit_classifier, weights_path


def main() -> int:
    torch.use_deterministic_algorithms(True)
    start = time.time()
    model, acc = train_digit_classifier()
    print(f"held-out accuracy {acc:.4f} after {time.time() - start:.0f} s")
    if acc < 0.98:
        print("error: held-out accuracy below 0.98; weights not written", file=sys.stderr)
        return 1
    save_weights(model, weights_path())
    print(f"wrote {weights_path()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
