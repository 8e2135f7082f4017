#!/usr/bin/env bash
# Installs the Debian packages the project needs (or those named as arguments), only those missing.
# Safe to run repeatedly: with everything present it does nothing and needs no network.
set -euo pipefail

packages=(
  postgresql postgresql-contrib   # PostgreSQL 15 server and pgbench
  redis-server redis-tools        # Redis 7 server and redis-cli / redis-benchmark
  libhiredis-dev pkg-config       # the Redis client library, found through pkg-config
  libphonenumber-dev              # phone numbers to E.164 (through the CPhoneNumber shim)
  zlib1g-dev                      # zlib for compressed cache entries (compress-nio)
  wrk                             # HTTP load for `make bench`
  curl ca-certificates
)

[ $# -gt 0 ] && packages=("$@")

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "==> installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "error: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "==> installed"
