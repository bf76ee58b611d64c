#!/usr/bin/env bash
# The main job on the data flowknn ships with (npm start): train on the seed study's labels
# without nfs (log1p + z-score, k = 3), print the leave-one-out report, classify the 20 probe
# aggregates and print each with its neighbours and prediction. Everything goes under out/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
flowknn() { node bin/flowknn.js "$@"; }

flowknn train --labels data/seed-2015/labels --exclude nfs --scaler log-zscore --k 3 --protocol loo --out out/model
flowknn evaluate --model out/model --protocol loo --out out/evaluation.json
flowknn classify data/seed-2015/probes/test-samples.raw --model out/model --out out/probes --show
echo "outputs: out/model (model.json, train.arrow), out/evaluation.json, out/probes (predictions.arrow, predictions.csv)"
