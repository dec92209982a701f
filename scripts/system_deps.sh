#!/usr/bin/env bash
# Debian packages the tests and packagers use: kotlinc (Android package's Kotlin parity check),
# arm-none-eabi-gcc + newlib + qemu-system-arm (Cortex-M firmware), sshd (Linux-board profiler
# test), adb (Android profiler: device detection). Installs only what is missing, with apt-get as root (or passwordless sudo); otherwise
# says which packages to install and leaves the tests to report what they need.
set -euo pipefail
declare -A need=(
  [kotlinc]=kotlin
  [arm-none-eabi-gcc]="gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib"
  [qemu-system-arm]=qemu-system-arm
  [/usr/sbin/sshd]=openssh-server
  [adb]=adb
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ] || missing+=(${need[$cmd]})
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else
  echo "warning: missing Debian packages: ${missing[*]} (apt-get install them; tests that need them will say so)" >&2
  exit 0
fi
echo "> installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -q "${missing[@]}" >/dev/null || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q "${missing[@]}" >/dev/null; }
