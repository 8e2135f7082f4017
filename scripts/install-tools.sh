#!/usr/bin/env bash
# Tools the test suite uses, installed only when missing:
#   - a project-local virtualenv (.tools/venv) with the standard OpenAPI validator that checks the served document
#     and Selenium, which drives the console's browser tests;
#   - headless Chromium and its WebDriver from Debian's packages (chromium, chromium-driver).
set -euo pipefail
cd "$(dirname "$0")/.."

validator_version="0.9.0"
selenium_version="4.27.1"
venv=".tools/venv"

browser_packages=(chromium chromium-driver)
missing=()
for package in "${browser_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

installed() { "$venv/bin/pip" show "$1" 2>/dev/null | grep -qx "Version: $2"; }
if [ -x "$venv/bin/python" ] && installed openapi-spec-validator "$validator_version" && installed selenium "$selenium_version"; then
  exit 0
fi
command -v python3 >/dev/null || { echo "error: python3 is needed for the test tools" >&2; exit 1; }
echo "==> installing openapi-spec-validator $validator_version and selenium $selenium_version into $venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "openapi-spec-validator==$validator_version" "selenium==$selenium_version"
