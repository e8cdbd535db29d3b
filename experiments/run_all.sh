#!/usr/bin/env bash
# Run the full versions of the experiments, cheapest first, each writing its results under
# docs/results/<name>/ and its log under $LOG_DIR (default /tmp/clr-experiments-logs).
#
#   experiments/run_all.sh                 # everything (about 2 hours of CPU, mostly Table 1)
#   experiments/run_all.sh saddle mnist1d  # only some of them
#
# Each script spreads its own grid of seeds, policies and optimizers over the cores
# (clr.lab.grid.run_grid, one process per core, the numbers of a sequential run), so the
# experiments simply run one after another. Table 1 saves each finished (policy, seed) run in
# docs/results/table1/runs/ and reuses it, so an interrupted run picks up where it stopped.
# CIFAR-10 (exp_cifar10_caffe.py) is not in the default list: it needs the CIFAR-10 archive, and a
# GPU to finish in reasonable time; name it to run it (extra arguments through CIFAR_ARGS, e.g.
# CIFAR_ARGS="--device cuda --workers 1").
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
LOG_DIR="${LOG_DIR:-/tmp/clr-experiments-logs}"
mkdir -p "$LOG_DIR"

run() {  # run NAME SCRIPT ARGS...: one experiment, logged
    local name="$1"; shift
    echo "$(date -u +%H:%M:%S) start $name"
    "$PYTHON" "$@" > "$LOG_DIR/$name.log" 2>&1
    echo "$(date -u +%H:%M:%S) done  $name (log: $LOG_DIR/$name.log)"
}

all=(saddle mnist1d onecycle optimizers table1)
for name in "${@:-${all[@]}}"; do
    case "$name" in
        saddle)     run saddle experiments/exp_saddle.py ;;
        mnist1d)    run mnist1d experiments/exp_mnist1d.py ;;
        onecycle)   run onecycle experiments/exp_onecycle.py ;;
        optimizers) run optimizers experiments/exp_optimizers.py ;;
        table1)     run table1 experiments/exp_table1.py ;;
        cifar10)    run cifar10_caffe experiments/exp_cifar10_caffe.py ${CIFAR_ARGS:-} ;;
        *) echo "unknown experiment '$name'; choose from: ${all[*]} cifar10" >&2; exit 2 ;;
    esac
done
