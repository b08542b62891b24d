#!/usr/bin/env bash
# Installs what the benchmarks drive the app with, from Debian's packages:
# Postfix's smtp-sink and smtp-source (the postfix package, without ever
# starting the Postfix daemon) and wrk.
set -euo pipefail
packages=()
command -v smtp-sink >/dev/null && command -v smtp-source >/dev/null || packages+=(postfix)
command -v wrk >/dev/null || packages+=(wrk)
[ ${#packages[@]} -eq 0 ] && exit 0
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# policy-rc.d tells the package scripts not to start services.
printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
as_root chmod +x /usr/sbin/policy-rc.d
trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
echo "postfix postfix/main_mailer_type select No configuration" | as_root debconf-set-selections
as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
