# Sourced by the launch scripts: sets ROOT (the checkout) and PYTHON (the interpreter to run).
# $PYTHON wins; otherwise the project's environment (.venv, which `make env` creates), so that the
# scripts work from a shell where it is not activated; otherwise python3 on PATH.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "$PYTHON" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then
        PYTHON="$ROOT/.venv/bin/python"
    else
        PYTHON=python3
    fi
fi
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
    echo "$PYTHON cannot import torch: run \`make env\` to create $ROOT/.venv, or set PYTHON to" \
         "an interpreter with mmhssl's requirements." >&2
    exit 1
fi
