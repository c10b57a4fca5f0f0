#!/usr/bin/env bash
# Installs the Debian packages the tests and the lab need, only those missing.
# Runs before `npm test` and `npm run demo`; a no-op on a machine that has them.
set -euo pipefail
declare -A need=(
  [nft]=nftables [conntrack]=conntrack [ip]=iproute2 [debootstrap]=debootstrap
  [svcrack]=sipvicious [sipsak]=sipsak [mountpoint]=util-linux [fail2ban-server]=fail2ban
  [python3]=python3 [systemd-analyze]=systemd [systemd-nspawn]=systemd-container
  [redis-server]=redis-server [crowdsec-firewall-bouncer]=crowdsec-firewall-bouncer
  [chromium-headless-shell]=chromium-headless-shell
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
# fail2ban is for the side-by-side benchmark and the coexistence test, which run it in a lab
# namespace; pyinotify is the log backend Debian's fail2ban recommends.
[[ " ${missing[*]} " == *" fail2ban "* ]] && missing+=(python3-pyinotify)
echo "asterisk-guard: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# No service may start on the host from these packages (fail2ban would, on a systemd host).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The CrowdSec bouncer is for the bans-out test, which runs it in a lab namespace (its package
# recommends crowdsec, whose postinst registers online: not installed). Its unit would drop on
# the host at the next boot: off.
if [[ " ${missing[*]} " == *" crowdsec-firewall-bouncer "* ]]; then
  systemctl disable crowdsec-firewall-bouncer >/dev/null 2>&1 || rm -f /etc/systemd/system/multi-user.target.wants/crowdsec-firewall-bouncer.service
fi
