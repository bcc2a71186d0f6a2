#!/usr/bin/env bash
# Builds the tiny test guest, once, into $BACKFLOW_CACHE/guest/ (lib.sh's default: ~/.cache/backflow):
#   vmlinuz     Debian's amd64 kernel (package extracted with dpkg -x, never installed)
#   initrd.img  gzip'd newc cpio: busybox-static, qemu-ga + its libraries, virtio/ext4 modules, /init
#   data.qcow2  template data disk: 64 MiB ext4 (the guest mounts /dev/vda on /data)
# The guest's /init loads the modules, mounts /data, starts qemu-ga on the org.qemu.guest_agent.0
# virtio port and prints BACKFLOW-GUEST-READY on ttyS0. Boot with: console=ttyS0 quiet
# Needs (scripts/libvirt.sh installs them): busybox-static qemu-guest-agent cpio e2fsprogs qemu-utils.
set -euo pipefail

source "$(dirname "$0")/lib.sh"
OUT="$BACKFLOW_CACHE/guest"
DATA_MIB=64
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk
         virtio_console crc16 crc32c_generic mbcache jbd2 ext4)

done_already() { [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initrd.img" ] && [ -s "$OUT/data.qcow2" ]; }
if done_already; then say "guest: cached in $OUT"; exit 0; fi

mkdir -p "$OUT"
# one builder at a time (tests and a developer may run this concurrently)
exec 9>"$OUT/.lock"
flock 9
if done_already; then say "guest: cached in $OUT (built by another run)"; exit 0; fi

for tool in busybox qemu-ga cpio mkfs.ext4 qemu-img dpkg apt-get gzip; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || [ -x "/sbin/$tool" ] ||
    die "$tool missing: run scripts/libvirt.sh first (it installs the packages)"
done
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || BUSYBOX=$(command -v busybox)
# must be the static one: nothing else from the host goes in for it
if ldd "$BUSYBOX" >/dev/null 2>&1; then die "$BUSYBOX is dynamically linked: apt-get install busybox-static"; fi
QGA=/usr/sbin/qemu-ga
[ -x "$QGA" ] || die "$QGA missing: apt-get install qemu-guest-agent"

WORK="$OUT/.build"
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS

# --- kernel ----------------------------------------------------------------------------------------
if [ ! -s "$OUT/vmlinuz" ] || [ ! -s "$OUT/initrd.img" ]; then
  kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-6\.[^ ]*-amd64\)$/\1/p' | head -1; }
  download() { (cd "$WORK" && rm -f ./*.deb && apt-get download -q -o APT::Sandbox::User=root "$1" >/dev/null); }
  kpkg=$(kernel_pkg)
  if [ -z "$kpkg" ] || ! { say "guest: downloading $kpkg"; download "$kpkg"; }; then
    say "guest: apt-get update (package lists missing or stale)"
    apt-get update -qq
    kpkg=$(kernel_pkg)
    [ -n "$kpkg" ] || die "could not resolve the kernel package from linux-image-amd64's dependencies"
    say "guest: downloading $kpkg"
    download "$kpkg" || die "apt-get download $kpkg failed"
  fi
  dpkg -x "$WORK"/"$kpkg"_*.deb "$WORK/kernel"
  kver=$(ls "$WORK/kernel/lib/modules" | head -1)
  [ -n "$kver" ] || die "no /lib/modules in $kpkg"
  kmod="$WORK/kernel/lib/modules/$kver"

  # --- initramfs tree ------------------------------------------------------------------------------
  R="$WORK/initrd"
  mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,data,etc,lib/modules,var/lib}
  ln -s /run "$R/var/run"
  cp "$BUSYBOX" "$R/bin/busybox"
  # applet symlinks (as `busybox --install -s` would make at boot)
  while read -r applet; do
    [ -e "$R/$applet" ] || [ -L "$R/$applet" ] || ln -s /bin/busybox "$R/$applet"
  done < <("$BUSYBOX" --list-full)

  # qemu-ga and every shared library it needs, the dynamic loader included
  cp "$QGA" "$R/usr/sbin/qemu-ga"
  ldd "$QGA" | awk '/=> \//{print $3} /^\t\//{print $1}' | sort -u | while read -r lib; do
    mkdir -p "$R$(dirname "$lib")"
    cp -L "$lib" "$R$lib"
  done
  [ -e "$R/lib64/ld-linux-x86-64.so.2" ] || die "dynamic loader not copied"

  # kernel modules: decompressed (busybox insmod loads plain .ko only), in dependency order
  : >"$R/etc/modules"
  for m in "${MODULES[@]}"; do
    f=$(find "$kmod/kernel" \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" \) -print -quit)
    if [ -z "$f" ]; then
      if grep -q "/$m.ko\$" "$kmod/modules.builtin" 2>/dev/null; then say "guest: module $m is built in"; else say "guest: module $m not found, skipped"; fi
      continue
    fi
    case "$f" in
      *.ko.xz)  xz -dc "$f" >"$R/lib/modules/$m.ko" ;;
      *.ko.zst) zstd -qdc "$f" >"$R/lib/modules/$m.ko" ;;
      *.ko.gz)  gzip -dc "$f" >"$R/lib/modules/$m.ko" ;;
      *)        cp "$f" "$R/lib/modules/$m.ko" ;;
    esac
  done
  # order: each module after the ones its depends= names (modinfo section), starting from MODULES' order
  declare -A placed=()
  order=()
  place() {
    local m=$1 d deps
    [ -n "${placed[$m]:-}" ] && return 0
    placed[$m]=1
    [ -f "$R/lib/modules/$m.ko" ] || return 0
    deps=$(tr '\0' '\n' <"$R/lib/modules/$m.ko" | sed -n 's/^depends=//p' | tr ',' ' ')
    for d in $deps; do place "$d"; done
    order+=("$m")
  }
  for m in "${MODULES[@]}"; do place "$m"; done
  printf '%s\n' "${order[@]}" >"$R/etc/modules"
  say "guest: modules: ${order[*]}"

  cat >"$R/init" <<'EOF'
#!/bin/sh
# Backflow test guest init (PID 1)
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run && mkdir -p /run/qemu-ga
exec </dev/console >/dev/console 2>&1
for m in $(cat /etc/modules); do
  insmod /lib/modules/$m.ko 2>/dev/null || echo "backflow-guest: insmod $m failed"
done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if [ -b /dev/vda ]; then
  mount -t ext4 /dev/vda /data || echo "backflow-guest: mount /dev/vda /data failed"
else
  echo "backflow-guest: no /dev/vda"
fi
port=
i=0
while [ -z "$port" ] && [ $i -lt 50 ]; do
  for n in /sys/class/virtio-ports/*/name; do
    [ -f "$n" ] && [ "$(cat "$n")" = org.qemu.guest_agent.0 ] && port=$(basename "$(dirname "$n")")
  done
  [ -n "$port" ] || { sleep 0.1; i=$((i + 1)); }
done
if [ -n "$port" ]; then
  i=0
  while [ ! -c /dev/$port ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  qemu-ga -m virtio-serial -p /dev/$port -t /run/qemu-ga -f /run/qemu-ga.pid -l /run/qemu-ga.log &
  echo "backflow-guest: qemu-ga on /dev/$port"
else
  echo "backflow-guest: no guest agent channel"
fi
echo BACKFLOW-GUEST-READY
while true; do
  setsid cttyhack sh -l 2>/dev/null || sleep 3600
  sleep 1
done
EOF
  chmod 755 "$R/init"
  echo 'root:x:0:0:root:/:/bin/sh' >"$R/etc/passwd"
  echo 'root:x:0:' >"$R/etc/group"

  say "guest: packing initrd"
  (cd "$R" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) | gzip -9 >"$WORK/initrd.img"
  cp "$WORK/kernel/boot/vmlinuz-$kver" "$WORK/vmlinuz"
  mv "$WORK/initrd.img" "$OUT/initrd.img"
  mv "$WORK/vmlinuz" "$OUT/vmlinuz"
  say "guest: kernel $kver, initrd $(du -h "$OUT/initrd.img" | cut -f1)"
fi

# --- template data disk ----------------------------------------------------------------------------
if [ ! -s "$OUT/data.qcow2" ]; then
  truncate -s "${DATA_MIB}M" "$WORK/data.raw"
  mkfs.ext4 -q -F -L bfdata "$WORK/data.raw"
  qemu-img convert -f raw -O qcow2 "$WORK/data.raw" "$WORK/data.qcow2"
  mv "$WORK/data.qcow2" "$OUT/data.qcow2"
  say "guest: data disk ${DATA_MIB} MiB ext4"
fi
chmod 644 "$OUT"/vmlinuz "$OUT"/initrd.img "$OUT"/data.qcow2
say "guest: built in $OUT in $((SECONDS - start))s"
