#!/bin/bash
# Embed a folder of images as N shards with a Slurm job array: task i runs `embedlab embed --shard auto`, which reads
# SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT, and writes $OUT/part-<i>-of-<N>.parquet (+ its
# manifest) onto the shared file system. Submit:   sbatch --array=0-7 deploy/slurm/embed-array.sh
# Re-run one failed task (here 3; `sbatch --array=3` would make an array of 1, so pass the split explicitly):
#   embedlab embed --model "$MODEL" "$IMAGES" --shard 3/8 --out "$OUT"
# Then:                                            embedlab status "$OUT"
#SBATCH --job-name=embedlab-embed
#SBATCH --array=0-7
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=02:00:00
#SBATCH --output=embedlab-embed-%A_%a.log
set -euo pipefail

MODEL=${MODEL:?set MODEL to an exported model folder (embedlab export <run> --type branch --out <dir>)}
IMAGES=${IMAGES:?set IMAGES to the folder of images}
OUT=${OUT:?set OUT to the table folder (shared by all tasks)}
EMBEDLAB=${EMBEDLAB:-embedlab}

exec "$EMBEDLAB" embed --model "$MODEL" "$IMAGES" --shard auto --out "$OUT" --threads "${SLURM_CPUS_PER_TASK:-1}" --json
