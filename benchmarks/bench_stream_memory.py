"""Peak memory of training data from an image folder: decoded into memory once, or streamed from disk.

For folders of 1,000, 5,000 and 20,000 JPEG images (96x96 RGB, written once under --root), each case runs
in a fresh process: load `folder:` at resolution 64 (`stream=memory` or `stream=disk`), then draw
`--batches` batches of 64 through gankit's data source (as the trainer does: shuffled, the next batch
prefetched by worker processes when streaming). Reported per case: the process's peak RSS, the largest
peak RSS of one worker process, the load time and the images/s of the batches. The claim: the stream's
peak stays flat as the folder grows, where the in-memory loader's grows with it.

    python benchmarks/bench_stream_memory.py            # ~3 min here; prints JSON
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SIZES = (1000, 5000, 20000)
CASE = r"""
import json, resource, sys, time
import torch
from gankit.data import load_dataset
from gankit.data.sources import Source
folder, mode, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
data = load_dataset("folder:" + folder, resolution=64, stream=mode, workers=2)
t1 = time.perf_counter()
source = Source("train", data, 64, 0, torch.device("cpu"))
for _ in range(batches):
    source.next(64)
t2 = time.perf_counter()
source.close()
mb = lambda who: resource.getrusage(who).ru_maxrss / 1024
print(json.dumps({"peak_rss_mb": round(mb(resource.RUSAGE_SELF), 1),
                  "worker_peak_rss_mb": round(mb(resource.RUSAGE_CHILDREN), 1),
                  "load_s": round(t1 - t0, 2), "images_per_s": round(batches * 64 / (t2 - t1), 1)}))
"""


def make_images(root: Path, n: int) -> Path:
    """n distinct smooth random 96x96 JPEGs (written once; smaller sets are hard links to the first ones)."""
    import numpy as np
    from PIL import Image

    full = root / f"all-{max(SIZES)}"
    if not full.exists():
        tmp = root / "tmp-all"
        tmp.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        for i in range(max(SIZES)):
            small = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
            Image.fromarray(small).resize((96, 96), Image.Resampling.BILINEAR).save(tmp / f"{i:05d}.jpg", quality=90)
        tmp.rename(full)
    folder = root / f"n{n}"
    if not folder.exists():
        folder.mkdir()
        for f in sorted(full.iterdir())[:n]:
            os.link(f, folder / f.name)
    return folder


def cpu() -> dict:
    from gankit.train.precision import cpu_info

    return cpu_info()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="/tmp/gankit-stream-bench", help="where the image folders are written")
    p.add_argument("--batches", type=int, default=200)
    args = p.parse_args()
    root = Path(args.root)
    start = time.perf_counter()
    rows = []
    for n in SIZES:
        folder = make_images(root, n)
        for mode in ("memory", "disk"):
            out = subprocess.run([sys.executable, "-c", CASE, str(folder), mode, str(args.batches)],
                                 capture_output=True, text=True, check=True)
            rows.append({"images": n, "mode": mode, **json.loads(out.stdout.strip().splitlines()[-1])})
            print(json.dumps(rows[-1]), file=sys.stderr)
    print(json.dumps({"benchmark": "bench_stream_memory", "cpu": cpu(), "resolution": 64, "batch": 64,
                      "batches": args.batches, "rows": rows, "seconds": round(time.perf_counter() - start, 1)},
                     indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
