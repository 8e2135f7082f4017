#!/usr/bin/env bash
# Tools the test suite uses, installed only when missing:
#   - a project-local virtualenv (.tools/venv) with the standard OpenAPI validator that checks the served document,
#     Selenium, which drives the console's browser tests, and the Standard Webhooks and Svix libraries, which verify
#     every outbound webhook the tests receive;
#   - headless Chromium and its WebDriver from Debian's packages (chromium, chromium-driver).
set -euo pipefail
cd "$(dirname "$0")/.."

validator_version="0.9.0"
selenium_version="4.27.1"
standardwebhooks_version="1.3.0"
svix_version="2.9.1"
venv=".tools/venv"

scripts/install-deps.sh chromium chromium-driver

# grep reads all of it (with -q it would close the pipe early, and pipefail would count pip's SIGPIPE as a miss).
installed() { "$venv/bin/pip" show "$1" 2>/dev/null | grep -x "Version: $2" >/dev/null; }
if [ -x "$venv/bin/python" ] && installed openapi-spec-validator "$validator_version" && installed selenium "$selenium_version" \
   && installed standardwebhooks "$standardwebhooks_version" && installed svix "$svix_version"; then
  exit 0
fi
command -v python3 >/dev/null || { echo "error: python3 is needed for the test tools" >&2; exit 1; }
echo "==> installing openapi-spec-validator $validator_version, selenium $selenium_version, standardwebhooks $standardwebhooks_version and svix $svix_version into $venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "openapi-spec-validator==$validator_version" "selenium==$selenium_version" \
  "standardwebhooks==$standardwebhooks_version" "svix==$svix_version"
