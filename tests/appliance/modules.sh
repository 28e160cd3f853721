# Sourced by the initramfs builders: stage_modules KROOT KVER STAGE MODULE... copies each module
# of the unpacked Debian kernel at KROOT, after the modules it depends on, into STAGE, and lists
# them in load order in STAGE/etc/modules.order (the VM's init loads them with insmod).
stage_modules() {
  local kroot=$1 kver=$2 stage=$3 path m
  shift 3
  [[ -f "$kroot/lib/modules/$kver/modules.dep" ]] || depmod -b "$kroot" "$kver"
  declare -A seen=()
  order=()
  add_module() {
    local name=$1 line path dep
    line=$(grep -E "(^|/)${name//[-_]/[-_]}\.ko(\.[a-z]+)?:" "$kroot/lib/modules/$kver/modules.dep" | head -n1) || {
      echo "module $name not in $kver" >&2; exit 1; }
    path=${line%%:*}
    [[ -n "${seen[$path]:-}" ]] && return
    for dep in ${line#*:}; do add_module "$(basename "${dep%%.ko*}")"; done
    seen[$path]=1
    order+=("$path")
  }
  for m in "$@"; do add_module "$m"; done
  mkdir -p "$stage/etc"
  : > "$stage/etc/modules.order"
  for path in "${order[@]}"; do
    mkdir -p "$stage/lib/modules/$kver/$(dirname "$path")"
    cp "$kroot/lib/modules/$kver/$path" "$stage/lib/modules/$kver/$path"
    echo "/lib/modules/$kver/$path" >> "$stage/etc/modules.order"
  done
}
