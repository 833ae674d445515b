#!/bin/bash
# Deep Shopping: the partitioned index built in steps with Slurm, from the index `merge`
# published (deploy/index-slurm.sh):
#
#   train=$(sbatch --parsable --wrap "deep-shopping partition --index $INDEX --work $WORK --train")
#   place=$(sbatch --parsable --dependency=afterok:$train --array=0-7 deploy/partition-slurm.sh)
#   sbatch --dependency=afterok:$place --wrap "deep-shopping partition --index $INDEX --work $WORK --out $OUT"
#
# Each task places the slice of the index's rows that SLURM_ARRAY_TASK_ID names into its file
# and done-marker in $WORK (a shared file system); set SHARDS to the array's size. A task
# requeued after its shard finished does nothing. Exit status 75 (the partition not trained
# yet, the file system failing for now) requeues the task, up to $RETRIES times; any other
# failure (1: another index than the one trained, bad arguments) fails it.
#SBATCH --job-name=deep-shopping-partition
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --requeue
#SBATCH --output=deep-shopping-partition-%A_%a.log
set -u
: "${SHARDS:=8}" "${INDEX:=$PWD/catalogue}" "${WORK:=$PWD/partition-work}" "${RETRIES:=3}"

deep-shopping partition --index "$INDEX" --work "$WORK" --shards "$SHARDS"
status=$?
if [ "$status" = 75 ] && [ "${SLURM_RESTART_COUNT:-0}" -lt "$RETRIES" ]; then
  echo "shard $SLURM_ARRAY_TASK_ID/$SHARDS: retryable failure; requeued" >&2
  scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
fi
exit "$status"
