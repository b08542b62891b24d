#!/usr/bin/env bash
# Installs Postfix's smtp-sink and smtp-source (Debian's postfix package)
# without ever starting the Postfix daemon.
set -euo pipefail
command -v smtp-sink >/dev/null && command -v smtp-source >/dev/null && exit 0
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# policy-rc.d tells the package scripts not to start services.
printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
as_root chmod +x /usr/sbin/policy-rc.d
trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
echo "postfix postfix/main_mailer_type select No configuration" | as_root debconf-set-selections
as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends postfix >/dev/null
