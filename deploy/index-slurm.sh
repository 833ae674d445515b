#!/bin/bash
# Deep Shopping: the catalogue index built in shards as a Slurm job array, then merged.
#
#   sbatch --array=0-7 deploy/index-slurm.sh          # 8 shards; set SHARDS to match
#   sbatch --dependency=afterok:<array job id> --wrap 'deep-shopping merge --model "$MODEL" --parts "$PARTS" --out "$OUT"'
#
# Each task builds the shard SLURM_ARRAY_TASK_ID names into its part file and done-marker in
# $PARTS (a shared file system). A task requeued after its shard finished does nothing.
# Exit status 75 (the image host or the file system failing for now) requeues the task, up to
# $RETRIES times; any other failure (1: bad arguments, a bad feed, the wrong model) fails it.
#SBATCH --job-name=deep-shopping-index
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --requeue
#SBATCH --output=deep-shopping-index-%A_%a.log
set -u
: "${SHARDS:=8}" "${FEED:=https://shop.example.com/feed.xml}" "${MODEL:=models}"
: "${PARTS:=$PWD/parts}" "${CACHE:=$PWD/cache}" "${RETRIES:=3}"

deep-shopping index --feed "$FEED" --model "$MODEL" --out "$PARTS" --cache "$CACHE" --shards "$SHARDS"
status=$?
if [ "$status" = 75 ] && [ "${SLURM_RESTART_COUNT:-0}" -lt "$RETRIES" ]; then
  echo "shard $SLURM_ARRAY_TASK_ID/$SHARDS: retryable failure; requeued" >&2
  scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
fi
exit "$status"
