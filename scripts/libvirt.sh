#!/usr/bin/env bash
# Installs (if missing) and starts a system libvirtd + virtlogd for the tests, without systemd.
# Idempotent: a second run installs nothing, edits nothing, starts nothing and exits 0 quickly.
set -euo pipefail

source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || die "must run as root (installs packages, runs libvirtd)"

# --- packages ------------------------------------------------------------------------------------
PKGS=(qemu-utils qemu-system-x86 libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
      virtnbdbackup busybox-static qemu-guest-agent cpio e2fsprogs netpbm)
# xxhsum: the content hashes of backup files (activities/host/lib/hashing.ts)
PKGS+=(xxhash)
OPTIONAL_PKGS=(qemu-block-extra)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

missing=()
for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done
# optional ones count as missing only if the archive has them (so a release without them stays fast)
opt_missing() { local p; for p in "${OPTIONAL_PKGS[@]}"; do installed "$p" || ! apt-cache show "$p" >/dev/null 2>&1 || echo "$p"; done; }
missing_opt=($(opt_missing))

if [ ${#missing[@]} -gt 0 ] || [ ${#missing_opt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  say "libvirt: installing ${missing[*]} ${missing_opt[*]}"
  apt-get update -qq
  missing_opt=($(opt_missing))
  apt-get install -y -qq "${missing[@]}" "${missing_opt[@]}" >/dev/null
  say "libvirt: packages installed"
else
  say "libvirt: packages present"
fi

# --- qemu.conf: run qemu as root (no libvirt-qemu user without libvirt-daemon-system) -------------
CONF=/etc/libvirt/qemu.conf
mkdir -p /etc/libvirt
[ -f "$CONF" ] || touch "$CONF"
set_conf() { # set_conf KEY VALUE: only when not already set to VALUE
  local key=$1 val=$2
  if grep -qE "^[[:space:]]*${key}[[:space:]]*=[[:space:]]*\"${val}\"" "$CONF"; then return 0; fi
  if grep -qE "^[[:space:]]*${key}[[:space:]]*=" "$CONF"; then
    sed -i -E "s|^[[:space:]]*${key}[[:space:]]*=.*|${key} = \"${val}\"|" "$CONF"
  else
    printf '%s = "%s"\n' "$key" "$val" >>"$CONF"
  fi
  say "libvirt: set $key = \"$val\" in $CONF"
  CONF_CHANGED=1
}
CONF_CHANGED=0
set_conf user root
set_conf group root

# libvirtd resolves its compiled-in default qemu user/group (libvirt-qemu) before reading qemu.conf
# and refuses to start if it does not exist; libvirt-daemon-system normally creates it.
if ! getent group libvirt-qemu >/dev/null; then groupadd -r libvirt-qemu; say "libvirt: created group libvirt-qemu"; fi
if ! getent passwd libvirt-qemu >/dev/null; then
  useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
  say "libvirt: created user libvirt-qemu"
fi

# --- runtime directories -------------------------------------------------------------------------
mkdir -p /var/log/libvirt/qemu /var/run/libvirt /var/lib/libvirt/qemu /var/cache/libvirt

# --- daemons -------------------------------------------------------------------------------------
if [ "$CONF_CHANGED" = 1 ] && pgrep -x libvirtd >/dev/null; then
  say "libvirt: WARNING: libvirtd was already running before qemu.conf changed; restart it to apply"
fi
if ! pgrep -x virtlogd >/dev/null; then
  virtlogd -d </dev/null >>/var/log/libvirt/virtlogd.out 2>&1
  say "libvirt: virtlogd started"
fi
if ! pgrep -x libvirtd >/dev/null; then
  libvirtd -d </dev/null >>/var/log/libvirt/libvirtd.out 2>&1
  say "libvirt: libvirtd started"
fi

# --- wait until it answers -----------------------------------------------------------------------
for i in $(seq 60); do
  if virsh -c qemu:///system version >/dev/null 2>&1; then
    if [ "$i" -gt 1 ]; then say "libvirt: libvirtd answering after ~$(( (i - 1) / 2 ))s"; fi
    say "libvirt: ready"
    exit 0
  fi
  sleep 0.5
done
virsh -c qemu:///system version >&2 || true
die "libvirtd did not answer 'virsh -c qemu:///system version' within 30s (see /var/log/libvirt/)"
