#!/usr/bin/env bash
# Every GPU measurement of benchmarks/RESULTS.md, on one CUDA machine, logs in $1 (default .).
#   benchmarks/run_gpu.sh LOGDIR eager     # targets 1-4 in eager mode + a 2-epoch CUDA fit (~5 min)
#   benchmarks/run_gpu.sh LOGDIR compile   # target 3 under torch.compile (several minutes)
#   benchmarks/run_gpu.sh LOGDIR profile   # torch.profiler of the steps (where A3M's time goes)
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

if [[ $phase == profile ]]; then
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
