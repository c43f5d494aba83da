#!/usr/bin/env bash
# Four runs of train_gpu.py side by side on one GPU. Each leaves in OUT its model file (14 MB), picture
# sheet and learning curve, and its training state for --resume (about 85 MB).
#   DATA=../shared/data/faces OUT=runs/sweep SECONDS_EACH=400 bench/reference/gpu-sweep.sh
# The recipes put the realism critic on the drawing at 128 px (g128-draw's critic, which met the figures
# with mottled pictures) with no or a light expression loss, each with and without the critic's R1
# penalty (weight R1, default 1), the usual remedy for the textures an unregularised critic rewards
# (resources/models/README.md, "From scratch on a GPU"). Snapshots at 35% and 70% of each run stay in
# OUT as NAME-35.mien and NAME-70.mien; every model file has its picture sheet beside it (NAME.png), and
# OUT/sheets-and-curves.tar holds every sheet and learning curve.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="${DATA:?DATA: the faces folder, with images/ and labels.csv}"
out="${OUT:?OUT: the folder for the models and learning curves}"
common=(--images "$data/images" --labels "$data/labels.csv" --seconds "${SECONDS_EACH:-400}"
  --classifier-steps "${CLASSIFIER_STEPS:-1500}" --snapshots 0.35,0.7 ${EXTRA:-})
mkdir -p "$out"
pids=()
run() {
  local name=$1
  shift
  python3 "$here/train_gpu.py" "${common[@]}" "$@" --out "$out/$name.mien" --log "$out/$name.jsonl" \
    2>"${TMPDIR:-/tmp}/sweep-$name.err" &
  pids+=($!)
}
critic=(--size 128 --expression 0 --realism 0.05 --critic-on drawing)
light=(--size 128 --expression 0.005 --realism 0.05 --critic-on drawing)
r1=(--r1 "${R1:-1}")
run critic128 "${critic[@]}"
run critic128-r1 "${critic[@]}" "${r1[@]}"
run light128 "${light[@]}"
run light128-r1 "${light[@]}" "${r1[@]}"
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
for name in critic128 critic128-r1 light128 light128-r1; do
  echo "$name: $(tail -n 1 "$out/$name.jsonl" 2>/dev/null)"
  grep -v '^{' "${TMPDIR:-/tmp}/sweep-$name.err" | tail -n 3 || true
done
# The pictures and learning curves in one file: a device call brings back only a few files.
(cd "$out" && tar -cf sheets-and-curves.tar -- *.png *.jsonl) || failed=1
exit $failed
