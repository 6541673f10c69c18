#!/usr/bin/env bash
# Creates (or completes) the project virtual environment: the pinned OpenMMLab stack on current torch,
# mmcv 2.1.0 compiled with its ops, and mmhssl in editable mode. Idempotent: a finished environment is
# only completed (the Makefile re-runs it when its inputs change).
#
# Environment:
#   VENV            where to create the environment (default: .venv)
#   PYTHON          interpreter to build it from (default: python3.11, else python3)
#   MMHSSL_CACHE    where the compiled mmcv wheel is kept between environments (default: ~/.cache/mmhssl)
#   FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="9.0"   build mmcv's CUDA ops too (GPU machines)
set -euo pipefail

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
CACHE=${MMHSSL_CACHE:-$HOME/.cache/mmhssl}
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
mkdir -p "$VENV"
VENV=$(cd "$VENV" && pwd)
STAMP="$VENV/.mmhssl-env-v1"

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
export PIP_CONSTRAINT="$PWD/requirements/constraints.txt"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip
# mmcv 2.1.0's setup.py and mmengine's `mmdet::` config inheritance import pkg_resources, which
# setuptools 82 removed.
$PIP install -q "setuptools<82" wheel ninja "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"

# The wheel is built against one torch ABI: key the cache by torch, Python and the CUDA switch so a
# stale build is never picked up by another torch (pip's own cache is keyed by the sdist alone).
PYTAG=$($VENV/bin/python -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
FLAVOUR=cpu; [ "${FORCE_CUDA:-0}" = "1" ] && FLAVOUR="cuda-${TORCH_CUDA_ARCH_LIST:-all}"
FLAVOUR=${FLAVOUR// /_}
WHEELDIR="$CACHE/mmcv-$MMCV_VERSION/torch$TORCH_VERSION-$PYTAG-$FLAVOUR"
if "$VENV/bin/python" -c "import mmcv._ext" 2>/dev/null; then
  : # mmcv with ops already installed
elif ! ls "$WHEELDIR"/mmcv-*.whl >/dev/null 2>&1; then
  echo "Building mmcv $MMCV_VERSION with ops against torch $TORCH_VERSION (about 15 minutes on 2 cores)..."
  BUILD=$(mktemp -d)
  trap 'rm -rf "$BUILD"' EXIT
  $PIP download -q --no-deps --no-binary :all: --no-build-isolation --no-cache-dir -d "$BUILD" "mmcv==$MMCV_VERSION"
  tar -xzf "$BUILD"/mmcv-$MMCV_VERSION.tar.gz -C "$BUILD"
  # torch >= 2.14 headers require C++20; mmcv 2.1.0 hard-codes -std=c++17.
  sed -i 's/-std=c++17/-std=c++20/g' "$BUILD/mmcv-$MMCV_VERSION/setup.py"
  grep -q -- '-std=c++20' "$BUILD/mmcv-$MMCV_VERSION/setup.py"
  (cd "$BUILD/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      "$VENV/bin/python" -m pip wheel -q --no-deps --no-build-isolation --no-cache-dir -w "$BUILD/dist" . \
      > "$BUILD/build.log" 2>&1) || { tail -n 60 "$BUILD/build.log"; echo "mmcv build failed" >&2; exit 1; }
  mkdir -p "$WHEELDIR"
  cp "$BUILD"/dist/mmcv-*.whl "$WHEELDIR.tmp.whl"
  mv "$WHEELDIR.tmp.whl" "$WHEELDIR/$(basename "$BUILD"/dist/mmcv-*.whl)"
fi
"$VENV/bin/python" -c "import mmcv._ext" 2>/dev/null \
  || $PIP install -q --no-deps --force-reinstall "$WHEELDIR"/mmcv-*.whl
$PIP install -q -e ".[all]"
$VENV/bin/python -c "import mmcv._ext, mmpretrain.models, mmdet.models, mmseg.models, mmhssl" \
  || { echo "The environment in $VENV does not import the OpenMMLab stack; see the errors above." >&2; exit 1; }
touch "$STAMP"
echo "Environment ready in $VENV"
