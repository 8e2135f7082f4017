#!/usr/bin/env bash
# Python tools the test suite uses, in a project-local virtualenv (.tools/venv): the standard OpenAPI
# validator that checks the served document. Does nothing when the pinned version is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

validator_version="0.9.0"
venv=".tools/venv"
if [ -x "$venv/bin/openapi-spec-validator" ] && "$venv/bin/pip" show openapi-spec-validator 2>/dev/null | grep -qx "Version: $validator_version"; then
  exit 0
fi
command -v python3 >/dev/null || { echo "error: python3 is needed for the OpenAPI validator" >&2; exit 1; }
echo "==> installing openapi-spec-validator $validator_version into $venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "openapi-spec-validator==$validator_version"
