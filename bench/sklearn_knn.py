"""scikit-learn baseline for bench/knn.ts: the same data (float64 files written by the
TypeScript side), the same k, timed here, neighbours written back for the agreement check."""
import json
import sys
import time

import numpy as np
from sklearn.neighbors import NearestNeighbors

spec = json.loads(sys.argv[1])
train = np.fromfile(spec["train"], dtype=np.float64).reshape(-1, spec["d"])
queries = np.fromfile(spec["queries"], dtype=np.float64).reshape(-1, spec["d"])
results = {}
for algorithm in spec["algorithms"]:
    nn = NearestNeighbors(n_neighbors=spec["k"], algorithm=algorithm, metric="euclidean", n_jobs=spec["n_jobs"])
    t0 = time.perf_counter()
    nn.fit(train)
    t1 = time.perf_counter()
    dist, idx = nn.kneighbors(queries)
    t2 = time.perf_counter()
    idx.astype(np.int32).tofile(f"{spec['out']}.{algorithm}.idx")
    dist.astype(np.float64).tofile(f"{spec['out']}.{algorithm}.dist")
    results[algorithm] = {"fit_s": t1 - t0, "query_s": t2 - t1, "total_s": t2 - t0}
import sklearn
print(json.dumps({"sklearn": sklearn.__version__, "numpy": np.__version__, "results": results}))
