#!/usr/bin/env bash
# One epoch of every CNN book preset on CUDA, examples/s next to the book's V100 figures, with the
# lab's defaults (channels_last, bf16 autocast, cudnn.benchmark) and with bf16 off (FP32).
# Sized for one H100 in under 8 minutes. Usage: benchmarks/gpu_check.sh [DEVICE]   (default cuda)
set -euo pipefail
cd "$(dirname "$0")/.."
device=${1:-cuda}
lab=${D2L_LAB:-.venv/bin/d2l-lab}
export D2L_LAB_HOME=${D2L_LAB_HOME:-$(mktemp -d)}

# id, extra settings, the book's V100 examples/s (LECTURES.md)
cases=(
  "lenet||89331.7"
  "alexnet||4166.0"
  "vgg||2558.8"
  "nin||3167.4"
  "googlenet||3459.1"
  "batchnorm|impl=scratch|37724.0"
  "batchnorm|impl=concise|66439.9"
  "resnet||4693.8"
  "densenet||5517.6"
)

epoch_speed() {  # id, settings... -> "examples/s test_acc" of the one epoch
  local id=$1; shift
  local sets=()
  for s in "$@"; do [ -n "$s" ] && sets+=(--set "$s"); done
  "$lab" run "$id" --device "$device" --set epochs=1 "${sets[@]}" --json \
    | python3 -c '
import json, sys
end = [e for e in map(json.loads, sys.stdin) if e["kind"] == "epoch"][-1]
print(f"{end[\"examples_per_sec\"]:.0f} {end[\"metrics\"][\"test_acc\"]:.3f}")'
}

printf '| %-22s | %10s | %12s | %10s | %12s | %8s |\n' experiment "V100 book" "lab bf16" "× book" "lab fp32" "test acc"
printf '|%s|\n' "------------------------|------------|--------------|------------|--------------|----------"
for case in "${cases[@]}"; do
  IFS='|' read -r id extra book <<< "$case"
  read -r fast acc <<< "$(epoch_speed "$id" "$extra")"
  read -r fp32 _ <<< "$(epoch_speed "$id" "$extra" bf16=false)"
  printf '| %-22s | %10s | %12s | %9.1f× | %12s | %8s |\n' "$id ${extra}" "$book" "$fast" \
    "$(python3 -c "print($fast / $book)")" "$fp32" "$acc"
done
