#!/usr/bin/env bash
# One short prepared run for a lent GPU (issue 23; docs/architecture.md §7). Prints, in order:
#   1. sparoa doctor (versions, GPU, integrated or not, TF32 flags, Jetson state, warnings)
#   2. pytest -m gpu with TF32 on (SPAROA_TF32=all) and off (SPAROA_TF32=none)
#   3. sparoa doctor --check: accuracy of random split placements by precision, timing sanity,
#      first vs tenth run, one host->GPU copy pageable / staged / mapped
# Usage: scripts/gpu_check.sh [--dry-run]   (--dry-run: no GPU needed; CPU path of the check,
#        pytest -m gpu only collected). Exit status: nonzero if any step failed.
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
status=0
step() { echo; echo "== $* =="; }

step "doctor"
"$PY" -m sparoa_sim.cli doctor || status=1
step "TF32 flags at start"
"$PY" -c 'import torch; print("cudnn.allow_tf32 =", torch.backends.cudnn.allow_tf32, "matmul.allow_tf32 =", torch.backends.cuda.matmul.allow_tf32)' || status=1
for mode in all none; do
  step "pytest -m gpu, SPAROA_TF32=$mode"
  if [ "$DRY" = 1 ]; then
    SPAROA_TF32=$mode "$PY" -m pytest -m gpu -q -p no:cacheprovider --collect-only tests/real | tail -1 || status=1
  else
    SPAROA_TF32=$mode "$PY" -m pytest -m gpu -q -p no:cacheprovider -rs tests/real || status=1
  fi
done
step "doctor --check"
if [ "$DRY" = 1 ]; then
  "$PY" -m sparoa_sim.cli doctor --check --dry-run || status=1
else
  "$PY" -m sparoa_sim.cli doctor --check || status=1
fi
step "gpu_check: $([ $status = 0 ] && echo all steps passed || echo some step FAILED)"
exit $status
