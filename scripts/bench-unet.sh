#!/usr/bin/env bash
# Times full-size Stable Diffusion 1.5 UNet passes on random weights and prints the per-block breakdown.
#   scripts/bench-unet.sh [--passes 3] [--warmup 1] [--batch 2] [--latent 64] [--tokens 77] [--pieces 4,64,0] [--threads 1,2]
#                         [--config src/test/resources/golden/full-size-keys/sd15_unet.json]
# --pieces: attention score memory per piece in MiB (0 = unsliced); --threads: PyTorch intra-op threads;
# every combination is a variant, and variants run interleaved, pass by pass, in one process.
# THREADS sets PyTorch's intra-op threads; JAVA_OPTS adds JVM options; BENCH_CLASSES replaces target/classes
# (to time another build of the main classes against the same benchmark).
set -euo pipefail

project_dir="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$project_dir"

cp_file="target/bench-classpath.txt"
if [ ! -d target/test-classes/io/github/ssrencoder/bench ] || [ ! -f "$cp_file" ]; then
  echo "bench-unet: compiling (mvn test-compile) ..." >&2
  mvn -B -q test-compile >&2
  mvn -B -q dependency:build-classpath -Dmdep.outputFile="$cp_file" -Dmdep.includeScope=test >&2
fi

export DJL_CACHE_DIR="${DJL_CACHE_DIR:-$project_dir/target/djl-cache}"

threads_opt=()
if [ -n "${THREADS:-}" ]; then
  threads_opt=(-Dai.djl.pytorch.num_threads="$THREADS" -Dai.djl.pytorch.num_interop_threads=1)
fi

# shellcheck disable=SC2086
exec java ${JAVA_OPTS:-} -Xmx2g -Dai.djl.offline=true -DOPT_OUT_TRACKING=true "${threads_opt[@]}" \
  -cp "${BENCH_CLASSES:-target/classes}:target/test-classes:$(cat "$cp_file")" \
  io.github.ssrencoder.bench.BenchUNet "$@"
