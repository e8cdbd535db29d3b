#!/usr/bin/env bash
# Run the full versions of the experiments, cheapest first, each writing its results under
# docs/results/<name>/ and its log under $LOG_DIR (default /tmp/clr-experiments-logs).
#
#   experiments/run_all.sh                 # everything (about 2 hours of CPU, mostly Table 1)
#   experiments/run_all.sh saddle mnist1d  # only some of them
#   nohup experiments/run_all.sh > /tmp/run_all.log 2>&1 &    # in the background
#
# Table 1 (the long one) runs in two processes side by side when JOBS=2 (the default), then collects
# them; each finished (policy, seed) run is saved in docs/results/table1/runs/ and reused, so an
# interrupted run picks up where it stopped. CIFAR-10 (exp_cifar10_caffe.py) is not in the default
# list: it needs the CIFAR-10 archive, and a GPU to finish in reasonable time; name it to run it
# (extra arguments through CIFAR_ARGS, e.g. CIFAR_ARGS="--device cuda").
set -euo pipefail

cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PYTHON="${PYTHON:-python}"
LOG_DIR="${LOG_DIR:-/tmp/clr-experiments-logs}"
JOBS="${JOBS:-2}"
mkdir -p "$LOG_DIR"
# one BLAS thread per process: the scripts are many small matrix products, and several may run at once
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

run() {  # run NAME SCRIPT ARGS...: one experiment, logged
    local name="$1"; shift
    echo "$(date -u +%H:%M:%S) start $name"
    "$PYTHON" "$@" > "$LOG_DIR/$name.log" 2>&1
    echo "$(date -u +%H:%M:%S) done  $name (log: $LOG_DIR/$name.log)"
}

table1() {
    if [ "$JOBS" -ge 2 ]; then
        # the range test first (saved, then shared), then two processes with three policies each,
        # then the summary, which finds every run saved
        run table1_range experiments/exp_table1.py --seeds 0 --policies fixed
        run table1_a experiments/exp_table1.py --seeds 0 1 2 --policies fixed triangular triangular2 & local pid=$!
        run table1_b experiments/exp_table1.py --seeds 0 1 2 --policies exp_range exp decay
        wait "$pid"
    fi
    run table1 experiments/exp_table1.py --seeds 0 1 2
}

all=(saddle mnist1d onecycle onecycle_half optimizers nesterov_half table1)
for name in "${@:-${all[@]}}"; do
    case "$name" in
        saddle)     run saddle experiments/exp_saddle.py ;;
        mnist1d)    run mnist1d experiments/exp_mnist1d.py ;;
        onecycle)   run onecycle experiments/exp_onecycle.py ;;
        optimizers) run optimizers experiments/exp_optimizers.py ;;
        # sensitivity runs: the same with the range test's bounds halved (docs/results.md explains why)
        onecycle_half) run onecycle_half_max experiments/exp_onecycle.py --max-lr-scale 0.5 --fixed-grid 0.3 \
                           --out docs/results/onecycle_half_max ;;
        nesterov_half) run optimizers_nesterov_half experiments/exp_optimizers.py --optimizers nesterov \
                           --bounds-scale 0.5 --out docs/results/optimizers_nesterov_half ;;
        table1)     table1 ;;
        cifar10)    run cifar10_caffe experiments/exp_cifar10_caffe.py ${CIFAR_ARGS:-} ;;
        *) echo "unknown experiment '$name'; choose from: ${all[*]} cifar10" >&2; exit 2 ;;
    esac
done
