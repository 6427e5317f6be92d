#!/usr/bin/env bash
# Train the IKEA generators (issue 19 part 2) in the background, niced, one torch thread each.
#   research/generators_ikea_train.sh <run> <steps>     run: edge | baseline | boundary | uniform | pix2pix
# Re-running with a larger <steps> resumes from the run's checkpoint (a "leg"); baseline and
# boundary share seed, init and batch stream (paired), also across legs when resumed at the
# same step. Everything (checkpoints, sample grids, MLflow store, logs) stays under $ROOT.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-/tmp/adstage-train}
run=$1; steps=$2
out=$ROOT/$run; mkdir -p "$out" "$ROOT/logs"
resume=(); [[ -f $out/checkpoint.pt ]] && resume=(--resume "$out/checkpoint.pt")
common=(--data ikea --holdout-share 0.2 --threads 1 --seed 0 --out-dir "$out" --steps "$steps"
        --checkpoint-every 50 --log-every 25 --conf "home=$ROOT/home")
ec=(--size 128 --load-short-side 384 --batch-size 8 --base-channels "${CH:-16}" --disc-channels "${CH:-16}"
    --res-blocks "${BLOCKS:-6}" --mask-kind mixed --mask-dilate-px 2 --sample-every 200)
case $run in
  edge)     args=(jobs/train_edgeconnect.py --stage edge "${ec[@]}") ;;
  baseline) args=(jobs/train_edgeconnect.py --stage inpaint "${ec[@]}" --boundary-weight 1) ;;
  boundary) args=(jobs/train_edgeconnect.py --stage inpaint "${ec[@]}" --boundary-weight 5 --boundary-band 3) ;;
  # The control: the same weight on the whole hole (a 64 px inside band covers a 128 px crop's
  # hole), not on its boundary: is it the boundary, or just more weight on the hole?
  uniform)  args=(jobs/train_edgeconnect.py --stage inpaint "${ec[@]}" --boundary-weight 5 --boundary-band 64 --boundary-side inside) ;;
  pix2pix)  args=(jobs/train_pix2pix.py --size 128 --batch-size 4 --ikea-pairs 400 --sample-every 250) ;;
  *) echo "unknown run $run" >&2; exit 2 ;;
esac
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=. nohup nice -n 19 .venv/bin/python "${args[@]}" "${common[@]}" "${resume[@]}" \
  >>"$ROOT/logs/$run.log" 2>&1 &
echo $! > "$ROOT/logs/$run.pid"
echo "started $run (pid $(cat "$ROOT/logs/$run.pid")) -> $ROOT/logs/$run.log"
