"""scikit-learn baseline for bench/training-scale.ts: the same labelled rows (float64 features,
uint8 class ids written by the TypeScript side), scaled as flowknn's default log-zscore scaler
(log1p, then per-feature mean and population sd), KNeighborsClassifier fit and leave-one-out
kneighbors (X=None: every training row's k nearest other rows), timed here; the novelty
threshold flowknn would store from them (0.95 quantile of the mean distance) for comparison."""
import json
import sys
import time

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

spec = json.loads(sys.argv[1])
x = np.fromfile(spec["x"], dtype=np.float64).reshape(-1, 7)
y = np.fromfile(spec["y"], dtype=np.uint8)
k = spec["k"]
results = {}
for algorithm in spec["algorithms"]:
    t0 = time.perf_counter()
    logged = np.log1p(x)
    scaled = (logged - logged.mean(axis=0)) / logged.std(axis=0)
    clf = KNeighborsClassifier(n_neighbors=k, algorithm=algorithm, n_jobs=spec["n_jobs"])
    clf.fit(scaled, y)
    t1 = time.perf_counter()
    dist, _ = clf.kneighbors(None, n_neighbors=k)
    t2 = time.perf_counter()
    threshold = float(np.quantile(dist.mean(axis=1), 0.95))
    results[algorithm] = {"fit_s": t1 - t0, "loo_s": t2 - t1, "method": clf._fit_method, "threshold": threshold}
import sklearn
print(json.dumps({"sklearn": sklearn.__version__, "numpy": np.__version__, "results": results}))
