#!/usr/bin/env bash
# Spark GPU discovery script: prints the GPUs of this host as Spark's resource JSON.
# With no GPU (or no nvidia-smi) it reports none, and onnxruntime uses the CPU provider.
set -euo pipefail
if command -v nvidia-smi >/dev/null 2>&1; then
  ids=$(nvidia-smi --query-gpu=index --format=csv,noheader | paste -sd, - | sed 's/[0-9]\+/"&"/g')
else
  ids=""
fi
echo "{\"name\": \"gpu\", \"addresses\": [${ids}]}"
