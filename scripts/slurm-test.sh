#!/usr/bin/env bash
# Integration test of `deeper submit` against a real single-node SLURM (slurmctld + slurmd +
# munge from Debian's packages), which this script starts and stops. Checks:
#  1. a two-stage experiment (the second starts from the first's best checkpoint) submitted as
#     job arrays over shards, chained, with a report job: every trial done once, in one results.csv;
#  2. a running array task sent SLURM's warning signal (USR1: it checkpoints and requeues itself,
#     and only itself), and another requeued with `scontrol requeue`: no trial lost, none
#     counted twice, each interrupted once and resumed from its checkpoint;
#  3. an early-stopping (ASHA) stage as one array of two tasks sharing the stage through the
#     journals and claims: both tasks train, every decision is taken once, the stage completes;
#  4. a search stage with early stopping as one array of two tasks, the workers of one search,
#     one task requeued mid-search: every proposal made once, no decision twice, both tasks
#     trained, the search completes.
# DEEPER_SLURM_CASES picks cases (default "two-stage requeue asha search"), DEEPER_SLURM_REPEAT runs
# each that many times (a stress run: DEEPER_SLURM_CASES=asha DEEPER_SLURM_REPEAT=30). On any
# failure the work folder is kept and every failed trial's error is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
deeper="${DEEPER:-$root/build/release/deeper}"  # DEEPER: another binary (a stress run beside a rebuild)
[ -x "$deeper" ] || scripts/build.sh release >/dev/null
work=$(mktemp -d /tmp/deeper-slurm-XXXXXX)
passed=0
failed=0
cleanup() {
  scancel --user="$(id -un)" >/dev/null 2>&1 || true
  scripts/slurm-local.sh stop >/dev/null 2>&1 || true
  if [ "$failed" = 0 ]; then rm -rf "$work"; else echo "slurm-test: kept $work for inspection"; fi
}
trap cleanup EXIT
check() {  # check NAME COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok: $name"; else failed=$((failed + 1)); echo "FAILED: $name"; fi
}
show_failed_trials() {  # show_failed_trials RESULTS_DIR: every failed trial's error, from the journals
  grep -h '"event":"failed"' "$1"/journal/*.jsonl 2>/dev/null | sed 's/^/  failed trial: /' || true
}
wait_for_queue_empty() {  # bounded poll of squeue
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt $deadline ]; do
    [ -z "$(squeue -h -o %i 2>/dev/null)" ] && return 0
    sleep 1
  done
  echo "queue not empty after $1 s:"; squeue; return 1
}
rows_with() { tail -n +2 "$1" | grep -c -- "$2" || true; }

# schedule every second: both array tasks of a stage must start within a second or two of
# each other, or the requeue checks below could see one trial finish before the other starts
SLURM_LOCAL_SCHED_INTERVAL=1 scripts/slurm-local.sh start

# Every experiment below fixes its trials' seed (defaults: seed). Without it each trial draws
# its seed from its id, which hashes the net file's path, here a fresh mktemp folder: every run
# of this script trained other seeds, and now and then (1 run in 57 here) one at which the ASHA
# case's lr 0.3 diverges at epoch 1 step 19 ("slurm-asha: 0 done, 1 failed", the CI failure of
# issue #26; a diverged trial is a correct failed row, the flakiness was the seed).
cat > "$work/net.yaml" <<'YAML'
type: plain
layers: [8, M, 16, M]
classifier: []
YAML

# ---- 1. two chained stages as arrays ----
case_two_stage() {
rm -rf "$work/two"
cat > "$work/two-stage.yaml" <<YAML
name: slurm-two-stage
seed: 3
defaults: {spec: $work/net.yaml, data: "synthetic:600", val_size: 100, train_eval_size: 100,
           epochs: 2, batch: 50, augment: false, seed: 1}
stages:
  - name: first
    grid: {lr: [0.02, 0.05, 0.1]}
  - name: second
    init_from: first
    grid: {lr: [0.01, 0.03]}
report:
  tables: [{rows: lr, metric: test_top1}]
YAML
"$deeper" submit "$work/two-stage.yaml" --out "$work/two" --shards 2 --cpus-per-task 1
check "two-stage sweep finishes" wait_for_queue_empty 300
check "results.csv has 5 trials, all done" test "$(rows_with "$work/two/results.csv" ',done,')" = 5
check "results.csv has no other rows" test "$(tail -n +2 "$work/two/results.csv" | wc -l)" = 5
check "each stage ran as its own shards" test "$(ls "$work/two/journal"/*.jsonl | wc -l)" = 2
check "the second stage started from the first's checkpoint" grep -q '"init":"trial:' "$work/two/journal/"*.jsonl
check "summary.md written by the report job" test -s "$work/two/summary.md"
"$deeper" status "$work/two"
show_failed_trials "$work/two"
}

# ---- 2. requeue: one task by scontrol, one by the warning signal ----
# each trial runs ~25 s on one core, long enough that both tasks are surely running at once
case_requeue() {
rm -rf "$work/rq"
cat > "$work/requeue.yaml" <<YAML
name: slurm-requeue
seed: 4
defaults: {spec: $work/net.yaml, data: "synthetic:60000", val_size: 200, train_eval_size: 200,
           epochs: 8, batch: 50, augment: false, seed: 1}
stages:
  - name: long
    grid: {lr: [0.02, 0.05]}
YAML
"$deeper" submit "$work/requeue.yaml" --out "$work/rq" --shards 2 --cpus-per-task 1
# wait until both trials have written an epoch (both tasks running), then interrupt them
trials_with_epochs() {
  cat "$work/rq/journal/"*.jsonl 2>/dev/null | grep '"event":"epoch"' | grep -o '"trial":"[0-9a-f]*"' | sort -u | wc -l
}
deadline=$((SECONDS + 240))
tasks_running() { squeue -h -t R -o %i | grep -c '_[01]$' || true; }
while [ $SECONDS -lt $deadline ] && { [ "$(trials_with_epochs)" -lt 2 ] || [ "$(tasks_running)" -lt 2 ]; }; do
  sleep 0.5
done
squeue -o "%i %A %T"
check "both tasks were mid-run" test "$(cat "$work/rq/journal/"*.jsonl | grep -c '"event":"done"')" = 0
# Address tasks as ARRAYID_TASK while both run. One task keeps the array's own job id; a bare
# `scontrol requeue ARRAYID` would requeue (kill) every task, so that task gets the warning
# signal: it must requeue itself alone. The other task is then requeued by scontrol.
array=$(squeue -h -t R -o "%F" | sort -u | head -n 1)
check "both array tasks running" test "$(squeue -h -t R -o %i | grep -c "^${array}_[01]$")" = 2
signalled=$(squeue -h -t R -o "%i %A" | awk -v a="$array" '$2 == a {sub(/.*_/, "", $1); print $1}')
signalled=${signalled:-1}
other=$((1 - signalled))
scancel --signal=USR1 --batch "${array}_${signalled}"
deadline=$((SECONDS + 60))
until grep -q "requeueing job ${array}_${signalled}\$" "$work/rq/slurm/logs/"*.out 2>/dev/null || [ $SECONDS -ge $deadline ]; do
  sleep 0.5
done
sleep 2  # let a wrong, array-wide requeue reach the other task
check "the warning signal made its task checkpoint and requeue itself" grep -q "requeueing job ${array}_${signalled}\$" "$work/rq/slurm/logs/"*.out
check "the other task ran on" test "$(cat "$work/rq/journal/"*.jsonl | grep -c '"event":"interrupted"')" = 1
scontrol requeue "${array}_${other}"
check "requeued sweep finishes" wait_for_queue_empty 420
"$deeper" report "$work/rq" --experiment "$work/requeue.yaml" >/dev/null
check "both trials done once" test "$(rows_with "$work/rq/results.csv" ',done,')" = 2
check "no duplicated trial rows" test "$(tail -n +2 "$work/rq/results.csv" | wc -l)" = 2
epoch_col=$(head -n 1 "$work/rq/curves.csv" | tr ',' '\n' | grep -n '^epoch$' | cut -d: -f1)
check "every epoch once in curves.csv" test "$(tail -n +2 "$work/rq/curves.csv" | cut -d, -f"1,$epoch_col" | sort | uniq -d | wc -l)" = 0
check "all 2 x 8 epochs present" test "$(tail -n +2 "$work/rq/curves.csv" | wc -l)" = 16
grep -h -o "\"event\":\"[a-z]*\",\"trial\":\"[0-9a-f]*\"" "$work/rq/journal/"*.jsonl | sort | uniq -c || true
check "each trial was interrupted exactly once" test "$(cat "$work/rq/journal/"*.jsonl | grep '"event":"interrupted"' | grep -o '"trial":"[0-9a-f]*"' | sort | uniq -c | awk '$1 == 1' | wc -l)" = 2
check "both trials were started again after the interruption" test "$(cat "$work/rq/journal/"*.jsonl | grep -c '"event":"start"')" = 4
check "resumed from checkpoints, not from scratch" grep -q '"resume_epoch":[1-9]' "$work/rq/journal/"*.jsonl
"$deeper" status "$work/rq"
show_failed_trials "$work/rq"
}

# ---- 3. early stopping shared by an array's tasks ----
case_asha() {
local out="$work/asha" failed_before=$failed
[ -e "$out" ] && out="$work/asha-$SECONDS-$RANDOM"  # repeated: each run its own folder, kept on failure
cat > "$work/asha.yaml" <<YAML
name: slurm-asha
seed: 5
defaults: {spec: $work/net.yaml, data: "synthetic:12000", val_size: 100, train_eval_size: 100,
           epochs: 4, batch: 50, augment: false, seed: 1}
stages:
  - name: lrs
    grid: {lr: [0.02, 0.05, 0.1, 0.2, 0.3, 0.5]}
    early_stop: {method: asha, reduction: 2, min_epochs: 1}
YAML
"$deeper" submit "$work/asha.yaml" --out "$out" --shards 2 --cpus-per-task 1
check "early-stopping sweep finishes" wait_for_queue_empty 300
check "all 6 trials done or stopped" test "$(tail -n +2 "$out/results.csv" | grep -c -e ',lrs,done,' -e ',lrs,stopped,')" = 6
check "at least one trained to the end" test "$(rows_with "$out/results.csv" ',lrs,done,')" -ge 1
check "both array tasks trained" test "$(grep -l '"event":"start"' "$out/journal/"*.jsonl | wc -l)" = 2
check "every decision once across the tasks" test "$(cat "$out/journal/"*.jsonl | grep -e '"event":"rung"' -e '"event":"promote"' -e '"event":"stopped"' | sed 's/,"time".*//' | sort | uniq -d | wc -l)" = 0
epoch_col=$(head -1 "$out/curves.csv" | tr , '\n' | grep -n '^epoch$' | cut -d: -f1)
check "every epoch once in curves.csv" test "$(tail -n +2 "$out/curves.csv" | cut -d, -f"1,$epoch_col" | sort | uniq -d | wc -l)" = 0
check "summary.md counts the early-stopping budget" grep -q "Early stopping (asha" "$out/summary.md"
"$deeper" status "$out"
show_failed_trials "$out"
if [ "$failed" = "$failed_before" ]; then rm -rf "$out"; fi
}

# ---- 4. one search, its workers an array's tasks, one requeued mid-search ----
case_search() {
local out="$work/search" failed_before=$failed
[ -e "$out" ] && out="$work/search-$SECONDS-$RANDOM"
cat > "$work/search-net.yaml" <<'YAML'
type: mbconv
resolution: 16
in_channels: 1
stem: 8
blocks: ["${l1}_s2_c16", "${l2}_c16"]
head: 32
YAML
cat > "$work/search.yaml" <<YAML
name: slurm-search
seed: 6
defaults: {spec: $work/search-net.yaml, data: "synthetic:12000", val_size: 100, train_eval_size: 100,
           epochs: 4, batch: 50, augment: false, seed: 1}
stages:
  - name: evo
    search:
      space:
        net.l1: {choice: [id, ir_k3_e3, ir_k5_e6]}
        net.l2: {choice: [id, ir_k3_e3, ir_k5_e6]}
      strategy: {name: evolution, population: 3, tournament: 2}
      budget: 6
    early_stop: {min_epochs: 1, reduction: 2}
YAML
"$deeper" submit "$work/search.yaml" --out "$out" --shards 2 --cpus-per-task 1
# requeue task 1 once it trains (an epoch in its journal) while task 0 runs too
deadline=$((SECONDS + 240))
until grep -q '"event":"epoch"' "$out/journal/shard-1-of-2.jsonl" 2>/dev/null && \
      [ "$(squeue -h -t R -o %i | grep -c '_[01]$' || true)" -ge 2 ] || [ $SECONDS -ge $deadline ]; do
  sleep 0.5
done
array=$(squeue -h -t R -o "%F" | sort -u | head -n 1)
check "both search tasks were running" test "$(squeue -h -t R -o %i | grep -c "^${array}_[01]$")" = 2
scontrol requeue "${array}_1"
check "the requeued search finishes" wait_for_queue_empty 360
check "the search's 6 proposals done or stopped" test "$(tail -n +2 "$out/results.csv" | grep -c -e ',evo,done,' -e ',evo,stopped,')" = 6
check "each proposal made once" test "$(cat "$out/journal/"*.jsonl | grep '"event":"propose"' | grep -o '"seq":"[0-9]*"' | sort | uniq | wc -l)" = 6
check "no proposal journaled twice" test "$(cat "$out/journal/"*.jsonl | grep -c '"event":"propose"')" = 6
check "both search tasks trained" test "$(grep -l '"event":"start"' "$out/journal/"*.jsonl | wc -l)" = 2
check "the requeued task was interrupted" grep -q '"event":"interrupted"' "$out/journal/shard-1-of-2.jsonl"
check "every search decision once across the tasks" test "$(cat "$out/journal/"*.jsonl | grep -e '"event":"rung"' -e '"event":"promote"' -e '"event":"stopped"' -e '"event":"done"' | sed 's/,"time".*//' | sort | uniq -d | wc -l)" = 0
"$deeper" status "$out"
show_failed_trials "$out"
if [ "$failed" = "$failed_before" ]; then rm -rf "$out"; fi
}

for ((round = 1; round <= ${DEEPER_SLURM_REPEAT:-1}; round++)); do
  for c in ${DEEPER_SLURM_CASES:-two-stage requeue asha search}; do
    [ "${DEEPER_SLURM_REPEAT:-1}" = 1 ] || echo "== round $round: $c (passed $passed, failed $failed so far)"
    "case_${c//-/_}"
  done
done

if [ "$failed" != 0 ]; then  # what the tasks printed, for whoever reads a CI log
  for f in "$work"/*/slurm/logs/*.out; do echo "== $f"; tail -n 20 "$f"; done
fi
echo "slurm: $passed passed, $failed failed"
[ "$failed" = 0 ]
