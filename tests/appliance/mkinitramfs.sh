#!/usr/bin/env bash
# Builds the initramfs of the appliance test: a Debian kernel's modules for the devices the VM
# gives the gate (USB keyboard-wedge scanner, 16550 UARTs, a DRM/KMS display, a USB tablet,
# a virtio NIC and a virtio disk with ext4), udev (libinput classifies input devices by udev's properties), busybox, the
# `portico` binary with the shared libraries it links, and the device's files.
#
# usage: mkinitramfs.sh KERNEL_ROOT PORTICO_BIN DEVICE_DIR OUT.cpio.gz [GPIO_SIM.ko]
#   KERNEL_ROOT  a Debian linux-image package unpacked (boot/vmlinuz-*, lib/modules/*)
#   DEVICE_DIR   copied to /device in the image (config, token, CA, replica)
#   GPIO_SIM.ko  the GPIO simulator (build-gpio-sim.sh); the VM then has a GPIO chip
set -euo pipefail
kroot=$(realpath "$1") bin=$(realpath "$2") device=$(realpath "$3") out=$(realpath -m "$4")
gpio_sim=${5:+$(realpath "$5")}
here=$(dirname "$(realpath "$0")")
kver=$(basename "$(ls -d "$kroot"/lib/modules/*/ | head -n1)")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage"/{bin,sbin,dev,proc,sys,run,tmp,etc,usr/share,lib/modules/"$kver"}

# Modules, each after the ones it depends on.
source "$here/modules.sh"
stage_modules "$kroot" "$kver" "$stage" evdev xhci_pci usbhid hid_generic bochs configfs virtio_pci virtio_net \
  crc32c_generic virtio_blk ext4

if [[ -n "$gpio_sim" ]]; then
  mkdir -p "$stage/lib/modules/extra"
  cp "$gpio_sim" "$stage/lib/modules/extra/gpio-sim.ko"
fi

# Programs and every library they load (ldd resolves RUNPATHs too).
copy_with_libs() {
  local file lib
  for file in "$@"; do
    mkdir -p "$stage$(dirname "$file")"
    cp -L "$file" "$stage$file"
    for lib in $(ldd "$file" 2>/dev/null | grep -oE '/[^ ]+\.so[^ ]*'); do
      [[ -e "$stage$lib" ]] && continue
      mkdir -p "$stage$(dirname "$lib")"
      cp -L "$lib" "$stage$lib"
    done
  done
}
copy_with_libs /bin/busybox /bin/udevadm
ln -s /bin/udevadm "$stage/sbin/udevd"
for applet in $(/bin/busybox --list); do
  [[ -e "$stage/bin/$applet" ]] || ln -s busybox "$stage/bin/$applet"
done
mkdir -p "$stage/usr/bin"
strip --strip-debug -o "$stage/usr/bin/portico" "$bin"
for lib in $(ldd "$bin" | grep -oE '/[^ ]+\.so[^ ]*'); do
  mkdir -p "$stage$(dirname "$lib")"; cp -L "$lib" "$stage$lib"
done

# udev's rules for input and DRM devices, keyboard maps, libinput's device quirks.
mkdir -p "$stage/lib/udev/rules.d" "$stage/etc/udev"
for rules in 50-udev-default 60-input-id 60-persistent-input 60-drm 70-uaccess; do
  [[ -f /lib/udev/rules.d/$rules.rules ]] && cp /lib/udev/rules.d/$rules.rules "$stage/lib/udev/rules.d/"
done
[[ -f /lib/udev/hwdb.bin ]] && cp /lib/udev/hwdb.bin "$stage/lib/udev/" || true
cp -r /usr/share/X11 "$stage/usr/share/" 2>/dev/null || true
cp -r /usr/share/libinput "$stage/usr/share/" 2>/dev/null || true

echo "root:x:0:0:root:/root:/bin/sh" > "$stage/etc/passwd"
echo "root:x:0:" > "$stage/etc/group"
cp -r "$device" "$stage/device"
cp "$here/init" "$stage/init"
chmod +x "$stage/init"

(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 > "$out"
echo "initramfs: $out ($(du -h "$out" | cut -f1), kernel $kver, ${#order[@]} modules)"
