#!/usr/bin/env bash
# Installs the Debian packages the tests and the lab need, only those missing.
# Runs before `npm test` and `npm run demo`; a no-op on a machine that has them.
set -euo pipefail
declare -A need=(
  [nft]=nftables [conntrack]=conntrack [ip]=iproute2 [debootstrap]=debootstrap
  [svcrack]=sipvicious [sipsak]=sipsak [mountpoint]=util-linux
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "asterisk-guard: missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "asterisk-guard: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
