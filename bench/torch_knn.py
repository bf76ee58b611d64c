"""PyTorch baseline for bench/knn.ts on a GPU machine: cdist + topk in query tiles on CUDA, on
the same data (float64 files written by the TypeScript side, converted to float32 on the
card), timed with torch.cuda.synchronize; neighbours written back for the agreement check."""
import json
import sys
import time

import numpy as np
import torch

spec = json.loads(sys.argv[1])
d, k = spec["d"], spec["k"]
train = torch.from_numpy(np.fromfile(spec["train"], dtype=np.float64).reshape(-1, d)).float().cuda()
queries = torch.from_numpy(np.fromfile(spec["queries"], dtype=np.float64).reshape(-1, d)).float().cuda()
tile = spec.get("tile", 8192)


def run():
    idx_out = torch.empty((queries.shape[0], k), dtype=torch.int64, device="cuda")
    for s in range(0, queries.shape[0], tile):
        dist = torch.cdist(queries[s : s + tile], train)  # default mode: matrix multiply when it pays
        _, idx = torch.topk(dist, k, dim=1, largest=False, sorted=True)
        idx_out[s : s + tile] = idx
    return idx_out


run()  # warm-up: CUDA context, kernels
torch.cuda.synchronize()
t0 = time.perf_counter()
idx = run()
torch.cuda.synchronize()
t1 = time.perf_counter()
idx.to(torch.int32).cpu().numpy().tofile(spec["out"] + ".torch.idx")
print(json.dumps({"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "seconds": t1 - t0, "tile": tile}))
