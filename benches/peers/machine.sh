# Sourced by the compare scripts: `machine` prints what the figures were measured on
# (CPU model and MHz as /proc/cpuinfo gives them, cores, load averages).
machine() {
  printf 'machine: %s at %s MHz, %s cores, load %s\n' \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" \
    "$(grep -m1 'cpu MHz' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
}
