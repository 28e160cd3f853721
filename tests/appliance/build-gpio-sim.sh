#!/usr/bin/env bash
# Builds the GPIO simulator module for the appliance test's kernel, from Debian's own kernel
# source and headers of that version (Debian's kernels ship without CONFIG_GPIO_SIM).
#
# usage: build-gpio-sim.sh KERNEL_RELEASE SOURCE_TARBALL OUT.ko
#   KERNEL_RELEASE  e.g. 6.1.0-56-amd64 (linux-headers-KERNEL_RELEASE installed)
#   SOURCE_TARBALL  /usr/src/linux-source-6.1.tar.xz (package linux-source-6.1)
set -euo pipefail
release=$1 tarball=$(realpath "$2") out=$(realpath -m "$3")
here=$(dirname "$(realpath "$0")")
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT

top=$(basename "$tarball" .tar.xz)   # linux-source-6.1.tar.xz holds linux-source-6.1/
tar -xJf "$tarball" -C "$build" --strip-components=1 \
  "$top/drivers/gpio/gpio-sim.c" "$top/drivers/gpio/gpiolib.h" "$top/kernel/irq/irq_sim.c"
cp "$build/drivers/gpio/gpio-sim.c" "$build/drivers/gpio/gpiolib.h" "$build/kernel/irq/irq_sim.c" \
  "$here/gpio-sim/Kbuild" "$build/"
# irq_to_desc() is not exported to modules; generic_handle_irq() runs the same flow handler.
sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$build/irq_sim.c"
grep -q 'generic_handle_irq(irqnum);' "$build/irq_sim.c" || {
  echo "irq_sim.c changed upstream: adapt build-gpio-sim.sh" >&2; exit 1; }
make -s -C "/usr/src/linux-headers-$release" M="$build" modules
cp "$build/portico-gpio-sim.ko" "$out"
echo "gpio-sim module: $out"
