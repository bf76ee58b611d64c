#!/usr/bin/env bash
# The main job on data flowknn ships with or generates (npm start): a demo night.
#  1. a generated day of real nfcapd files (nfpcapd from generated pcaps) with web, mail, a
#     monitoring poller, floods and NFS transfers, made once under out/demo/archive;
#  2. model v1 in the registry out/demo/models, trained on the seed study's labels without nfs
#     (log1p + z-score, k = 3, leave-one-out), made once;
#  3. the nightly job over that day (pipelines/demo.json): predictions, alerts, summary and
#     report under out/demo/nightly/2026-11-01/. It prints where the report is.
# A second run reuses all three and reports the day as up to date.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
flowknn() { node bin/flowknn.js "$@"; }

if [ ! -f out/demo/archive/synth.json ]; then
  flowknn synth --out out/demo/archive --date 2026-11-01 --hours 24 --nfs
fi
if [ ! -f out/demo/models/seed/current ]; then
  flowknn train --labels data/seed-2015/labels --exclude nfs --scaler log-zscore --k 3 --protocol loo --registry out/demo/models --name seed
fi
flowknn nightly --config pipelines/demo.json --date 2026-11-01
