#!/usr/bin/env bash
# Creates (or completes) the project virtual environment: the pinned OpenMMLab stack on current torch
# and mmhssl in editable mode. Idempotent: a finished environment is only completed.
#
# Two flavours of mmcv, never both in one environment:
#   MMHSSL_OPS=0 (default)  mmcv-lite: no compiled ops. Enough for pretraining, the demo, evaluation and
#                           the search (mmpretrain never imports mmcv.ops). Ready in a few minutes.
#   MMHSSL_OPS=1            mmcv 2.1.0 compiled with its ops, plus mmdet and mmsegmentation: what the
#                           downstream transfer and the full test suite need (`make env-downstream`).
#
# Environment:
#   VENV            where to create the environment (default: .venv)
#   PYTHON          interpreter to build it from (default: python3.11, else python3)
#   MMHSSL_CACHE    where the compiled mmcv wheel is kept between environments (default: ~/.cache/mmhssl)
#   FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="9.0"   build mmcv's CUDA ops too (GPU machines; implies MMHSSL_OPS=1)
set -euo pipefail

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
CACHE=${MMHSSL_CACHE:-$HOME/.cache/mmhssl}
OPS=${MMHSSL_OPS:-0}
[ "${FORCE_CUDA:-0}" = "1" ] && OPS=1
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
mkdir -p "$VENV"
VENV=$(cd "$VENV" && pwd)

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
export PIP_CONSTRAINT="$PWD/requirements/constraints.txt"
PY="$VENV/bin/python"
PIP="$PY -m pip"
$PIP install -q --upgrade pip
# mmcv 2.1.0's setup.py and mmengine's `mmdet::` config inheritance import pkg_resources, which
# setuptools 82 removed.
$PIP install -q "setuptools<82" wheel ninja "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"

# The wheel is built against one torch ABI: key the cache by torch, Python and the CUDA switch so a
# stale build is never picked up by another torch (pip's own cache is keyed by the sdist alone).
PYTAG=$($PY -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
FLAVOUR=cpu; [ "${FORCE_CUDA:-0}" = "1" ] && FLAVOUR="cuda-${TORCH_CUDA_ARCH_LIST:-all}"
FLAVOUR=${FLAVOUR// /_}
FLAVOUR=${FLAVOUR//;/_}
WHEELDIR="$CACHE/mmcv-$MMCV_VERSION/torch$TORCH_VERSION-$PYTAG-$FLAVOUR"
INSTALLED_FLAVOUR=$(cat "$VENV/.mmcv-flavour" 2>/dev/null || echo none)

if [ "$OPS" = "1" ]; then
  if [ "$INSTALLED_FLAVOUR" != "ops-$FLAVOUR" ] || ! $PY -c "import mmcv._ext" 2>/dev/null; then
    if ! ls "$WHEELDIR"/mmcv-*.whl >/dev/null 2>&1; then
      echo "Building mmcv $MMCV_VERSION with $FLAVOUR ops against torch $TORCH_VERSION (15-35 minutes on 2 cores)..."
      BUILD=$(mktemp -d)
      trap 'rm -rf "$BUILD"' EXIT
      $PIP download -q --no-deps --no-binary :all: --no-build-isolation --no-cache-dir -d "$BUILD" "mmcv==$MMCV_VERSION"
      tar -xzf "$BUILD"/mmcv-$MMCV_VERSION.tar.gz -C "$BUILD"
      # torch >= 2.14 headers require C++20; mmcv 2.1.0 hard-codes -std=c++17.
      sed -i 's/-std=c++17/-std=c++20/g' "$BUILD/mmcv-$MMCV_VERSION/setup.py"
      grep -q -- '-std=c++20' "$BUILD/mmcv-$MMCV_VERSION/setup.py"
      (cd "$BUILD/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
          $PY -m pip wheel -q --no-deps --no-build-isolation --no-cache-dir -w "$BUILD/dist" . \
          > "$BUILD/build.log" 2>&1) || { tail -n 60 "$BUILD/build.log"; echo "mmcv build failed" >&2; exit 1; }
      mkdir -p "$WHEELDIR"
      cp "$BUILD"/dist/mmcv-*.whl "$WHEELDIR.tmp.whl"
      mv "$WHEELDIR.tmp.whl" "$WHEELDIR/$(basename "$BUILD"/dist/mmcv-*.whl)"
    fi
    # mmcv-lite and mmcv install the same `mmcv` package: remove one before installing the other.
    $PIP uninstall -q -y mmcv-lite mmcv 2>/dev/null || true
    $PIP install -q --no-deps --force-reinstall "$WHEELDIR"/mmcv-*.whl
    echo "ops-$FLAVOUR" > "$VENV/.mmcv-flavour"
  fi
  $PIP install -q -e ".[all]"
  CHECK="import mmcv._ext, mmpretrain.models, mmdet.models, mmseg.models, mmhssl"
elif [ "$INSTALLED_FLAVOUR" = none ]; then
  # mmcv-lite is pure Python; an environment that already has compiled ops keeps them.
  $PIP uninstall -q -y mmcv 2>/dev/null || true
  $PIP install -q "mmcv-lite==$MMCV_VERSION"
  echo lite > "$VENV/.mmcv-flavour"
fi
[ "$OPS" = "1" ] || { $PIP install -q -e ".[demo,tests]"; CHECK="import mmpretrain.models, mmhssl"; }
$PY -c "$CHECK" \
  || { echo "The environment in $VENV does not import the OpenMMLab stack; see the errors above." >&2; exit 1; }
echo "Environment ready in $VENV ($(cat "$VENV/.mmcv-flavour"))"
