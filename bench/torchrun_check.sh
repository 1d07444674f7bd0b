#!/usr/bin/env bash
# torchrun with NCCL, for a session that has GPUs:  bash bench/torchrun_check.sh [NPROC]
#
# 1. A DDP run under torchrun on NPROC GPUs (default: all of them; one GPU still runs DDP over NCCL):
#    its start line names the backend and the global batch, its last line the speed.
# 2. The same steps and global batch in one plain process, for comparison.
# 3. The distributed run's checkpoint in one process: eval and generate load it.
# Exits non-zero if any step fails. STEPS (default 400), DEVICE (default cuda; cpu runs it here with
# gloo) and PYTHON can be set in the environment.
set -euo pipefail
PY=${PYTHON:-python}
N=${1:-$("$PY" -c "import torch; print(max(1, torch.cuda.device_count()))")}
CORPUS=$("$PY" -c "from bench.common import tweets_path; print(tweets_path())")
OUT=$(mktemp -d)
STEPS=${STEPS:-400}
DEVICE=${DEVICE:-cuda}
common=(--steps "$STEPS" --eval-every "$STEPS" --first-eval 0 --batch-size $((256 * N)) --device "$DEVICE")
echo "== torchrun --nproc-per-node $N, global batch $((256 * N))"
time "$PY" -m torch.distributed.run --standalone --nproc-per-node "$N" -m tui_gen train "$CORPUS" "${common[@]}" --out "$OUT/ddp"
"$PY" -c "import sys; from tui_gen.training.checkpoint import read_meta; m = read_meta(sys.argv[1]); print('checkpoint: step', m['step'], 'world_size', m['world_size'], 'validation', m['last_val_bpc'])" "$OUT/ddp/last.safetensors"
echo "== one process, the same global batch"
time "$PY" -m tui_gen train "$CORPUS" "${common[@]}" --out "$OUT/one"
"$PY" -c "import sys; from tui_gen.training.checkpoint import read_meta; m = read_meta(sys.argv[1]); print('checkpoint: step', m['step'], 'validation', m['last_val_bpc'])" "$OUT/one/last.safetensors"
echo "== the distributed checkpoint in one process"
"$PY" -m tui_gen eval "$OUT/ddp" --device "$DEVICE"
"$PY" -m tui_gen generate "$OUT/ddp" -n 120 --random-seed 1 --device "$DEVICE"
rm -rf "$OUT"
