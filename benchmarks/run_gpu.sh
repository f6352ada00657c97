#!/usr/bin/env bash
# Every GPU measurement of benchmarks/RESULTS.md, on one CUDA machine, logs in $1 (default .).
#   benchmarks/run_gpu.sh LOGDIR eager     # targets 1-4 in eager mode + a 2-epoch CUDA fit (~5 min)
#   benchmarks/run_gpu.sh LOGDIR compile   # target 3 under torch.compile (several minutes)
#   benchmarks/run_gpu.sh LOGDIR profile   # torch.profiler of the steps (where A3M's time goes)
#   benchmarks/run_gpu.sh LOGDIR issue15   # issue 15 in < 8 min: CUDA graphs at batch 32, 1/2/4
#                                          # trials per GPU, the paper's budget, loader vs step
# The input-pipeline copy (about 3,000 JPEGs of 500 px, ~2 min on one core) is written in the
# background while the GPU benchmarks run.
set -uo pipefail
out=${1:-.}
phase=${2:-eager}
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$out"
run() {  # name, command...: log to $out/name.log, keep going on failure
    local name=$1
    shift
    echo "== $name: $*"
    "$@" >"$out/$name.log" 2>&1 || echo "!! $name failed ($?)" | tee -a "$out/$name.log"
    tail -n 25 "$out/$name.log"
}
limited() {  # seconds, name, command...: run() under a time limit (124: the limit was hit)
    local seconds=$1
    shift
    run "$1" timeout --kill-after=10 "$seconds" "${@:2}"
}

data=/tmp/a3m-pipeline-cub
pipeline_data() {  # in the background: ~2 min on one core
    python -c "from a3m.data.synthetic import write_synthetic as w; \
w('cub', '$data', num_classes=20, images_per_class=154, image_size=500)" \
        >"$out/pipeline_data.log" 2>&1 &
    gen=$!
}
pipeline() {  # the input pipeline against the batch-256 step rate of the A3M trainer
    wait "$gen"
    run input_pipeline python benchmarks/bench_input_pipeline.py --data-dir "$data" \
        --classes 20 --per-class 154 --workers 0 1 2 4 8 12 15 --target-rate "${1:-3522}"
}

if [[ $phase == issue15 ]]; then
    # Budget: ~8 min of the 10 a command may take (the machine's start is on top). Every part
    # has its own limit and writes its log (and JSON) under $out; one failing stops nothing.
    start=$SECONDS
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
    python -c "import torch, torchvision; print(torch.__version__, torchvision.__version__)"
    pipeline_data
    # 3. Trials per GPU: 1, 2, 4 processes of the A3M trainer loop at batch 32 (~80 s).
    limited 120 shared_gpu python benchmarks/bench_shared_gpu.py --trials 1 2 4 --seconds 8 \
        --repeats 2 --json "$out/shared_gpu.json"
    # 3. CUDA graphs at batch 32: A3M and Baseline-1, eager and reduce-overhead (compiles, ~3 min).
    limited 200 graphs_b32 python benchmarks/bench_gpu_throughput.py --batch-size 32 \
        --candidates baseline1 a3m --compile-mode reduce-overhead --steps 50 --repeats 5 \
        --json "$out/graphs_b32.json"
    # 4. The paper's budget: measure the configurations with the most GPU-hours first.
    options=()
    for f in "$out/shared_gpu.json" "$out/graphs_b32.json"; do [[ -s $f ]] && options+=("$f"); done
    limited 110 paper_budget python benchmarks/paper_budget.py --measure --steps 100 \
        --time-limit 80 --write-rates "$out/rates_measured.json" --detail \
        --options ${options[@]+"${options[@]}"}
    # Loader vs the compiled step (5,287 images/s: A3M trainer compiled, batch 256, RESULTS.md).
    wait "$gen"
    limited 75 input_pipeline python benchmarks/bench_input_pipeline.py --data-dir "$data" \
        --classes 20 --per-class 154 --workers 15 --before-workers --target-rate 5287
    # Loader images/s per worker, JPEG decode vs the uint8 cache (a3m data cache) and the crop
    # on the GPU; its per-worker rate goes to paper_budget.py --options as {"kind": "loader",
    # "cache_per_worker": ...}
    limited 75 cache python benchmarks/bench_cache.py --data-dir "$data" --classes 20 \
        --per-class 154 --workers 1 4 15 --write-workers 15 --target-rate 5287
    echo "issue15 phase: $((SECONDS - start)) s; logs in $out"
elif [[ $phase == profile ]]; then
    pipeline_data
    run profile_b256 python benchmarks/bench_gpu_throughput.py --no-compile --profile --repeats 3
    run profile_heads python benchmarks/bench_head_overhead.py --devices cuda --profile \
        --no-ablation
    pipeline
elif [[ $phase == eager ]]; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
    python -c "import torch, torchvision; print(torch.__version__, torchvision.__version__)"
    pipeline_data
    run fit_cuda python -m a3m.cli train --dataset cub --synthetic --data-root /tmp/a3m-synth \
        --backbone resnet18 --epochs 2 --lr-drop-epochs 1 --device cuda --out /tmp/a3m-fit
    run head_overhead python benchmarks/bench_head_overhead.py --devices cuda
    run fused_heads python benchmarks/bench_fused_heads.py
    run throughput_eager python benchmarks/bench_gpu_throughput.py --no-compile
    run throughput_b32 python benchmarks/bench_gpu_throughput.py --no-compile --batch-size 32
    pipeline
else
    run throughput_compile python benchmarks/bench_gpu_throughput.py
fi
