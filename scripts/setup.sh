#!/usr/bin/env bash
# Installs what tickwatch's tests and demo need, and only what is missing:
#   - Debian packages: redis-server, rabbitmq-server, prometheus, prometheus-alertmanager,
#     chromium (headless, to load the load report in a real browser), curl and
#     apache2-utils' htpasswd (real HTTPS and bcrypt clients for the web config tests),
#     kubernetes-client's kubectl (renders the kustomize manifests in deploy/kubernetes),
#     dnsmasq-base and iproute2 (a DNS server in a network namespace of the test's own,
#     for mongodb+srv:// names)
#   - a Python virtual environment at .venv/ (ignored by git) with pinned versions of the
#     third-party servers the tests talk to (secantusdb, celery[redis], websockets) and
#     kubernetes-validate (checks the rendered manifests against Kubernetes' schemas).
# Idempotent: re-running it on a ready machine only checks and exits.
# It never leaves the packages' system services running on their default ports.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${TICKWATCH_VENV:-$repo/.venv}"

# --- Debian packages -------------------------------------------------------------------
need=()
for pair in redis-server:redis-server rabbitmq-server:rabbitmq-server \
            prometheus:prometheus promtool:prometheus \
            prometheus-alertmanager:prometheus-alertmanager amtool:prometheus-alertmanager \
            chromium:chromium curl:curl htpasswd:apache2-utils kubectl:kubernetes-client \
            dnsmasq:dnsmasq-base ip:iproute2; do
  bin="${pair%%:*}"; pkg="${pair#*:}"
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ] && [ ! -x "/usr/lib/rabbitmq/bin/$bin" ]; then
    case " ${need[*]-} " in *" $pkg "*) ;; *) need+=("$pkg") ;; esac
  fi
done
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages: ${need[*]}"
  # The packages ship services that would start on their default ports; a policy-rc.d
  # that answers 101 keeps them stopped during the install (removed again afterwards).
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    made_policy=1
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}" procps
  if [ "$made_policy" = 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
fi
# Belt and braces: if a service did start anyway, stop it so default ports stay free.
for svc in redis-server rabbitmq-server prometheus prometheus-alertmanager; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

# --- Python virtual environment --------------------------------------------------------
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating Python venv at $venv"
  python3 -m venv "$venv"
fi
req="$repo/tests/python/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing Python packages from $req"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi
echo "setup: ok (venv $venv)"
