#!/usr/bin/env bash
# Builds the initramfs of the package test: busybox, the Debian kernel's modules for a root
# shared by the host over virtio-9p (read-only, with a tmpfs overlay on top), and the test's
# files. The VM boots this machine's own Debian system under systemd, installs the package
# there with dpkg and checks its unit (init-package, run-package-test.sh).
#
# usage: mkinitramfs-package.sh KERNEL_ROOT PAYLOAD_DIR OUT.cpio.gz
#   KERNEL_ROOT  a Debian linux-image package unpacked (boot/vmlinuz-*, lib/modules/*)
#   PAYLOAD_DIR  copied to /root/portico-test in the booted system (the .deb, config, token)
set -euo pipefail
kroot=$(realpath "$1") payload=$(realpath "$2") out=$(realpath -m "$3")
here=$(dirname "$(realpath "$0")")
kver=$(basename "$(ls -d "$kroot"/lib/modules/*/ | head -n1)")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage"/{bin,sbin,dev,proc,sys,run,tmp,etc,lib/modules/"$kver"}
source "$here/modules.sh"
stage_modules "$kroot" "$kver" "$stage" virtio_pci 9pnet_virtio 9p overlay

cp /bin/busybox "$stage/bin/busybox"
for applet in $(/bin/busybox --list); do
  [[ -e "$stage/bin/$applet" ]] || ln -s busybox "$stage/bin/$applet"
done
cp -r "$payload" "$stage/payload"
cp "$here/run-package-test.sh" "$stage/payload/run-package-test.sh"
cp "$here/init-package" "$stage/init"
chmod +x "$stage/init" "$stage/payload/run-package-test.sh"

(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 > "$out"
echo "initramfs: $out ($(du -h "$out" | cut -f1), kernel $kver, ${#order[@]} modules)"
