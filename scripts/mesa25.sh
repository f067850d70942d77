#!/usr/bin/env bash
# Mesa 25 lavapipe (a Vulkan driver on the CPU) for the WebGPU correctness tests, without changing the system.
#
# Debian 12's own lavapipe (Mesa 22.3) is rejected by Dawn ("Vulkan shaderUniform*ArrayDynamicIndexing
# required"); Mesa 25 from bookworm-backports works (docs/webgpu.md). This script downloads the backports'
# mesa-vulkan-drivers and the newer libdrm it needs with a PRIVATE apt state (its own sources list, lists and
# cache under .cache/mesa25/apt; nothing under /etc or /var is written), extracts them with dpkg-deb -x, writes
# an ICD json pointing at the extracted libvulkan_lvp.so and prints the environment to use:
#
#   eval "$(scripts/mesa25.sh)"          # sets VK_ICD_FILENAMES, LD_LIBRARY_PATH, XDG_RUNTIME_DIR
#   scripts/mesa25.sh --print-dir        # just the folder (.cache/mesa25)
#
# Needs: Debian 12 (bookworm) or a derivative with the same libraries, apt-get, dpkg-deb, network on the first
# run, and the system Vulkan loader (`apt-get install -y --no-install-recommends libvulkan1`). Idempotent: a
# second run with the files in place downloads nothing. Progress goes to stderr, the env lines to stdout.
# EMBEDLAB_MESA25_DIR overrides the folder; EMBEDLAB_DEBIAN_MIRROR the mirror (default: the one apt uses here).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${EMBEDLAB_MESA25_DIR:-$here/.cache/mesa25}"
say() { printf 'mesa25: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

if [[ "${1:-}" == "--print-dir" ]]; then echo "$dir"; exit 0; fi

arch="$(dpkg --print-architecture 2>/dev/null || echo unknown)"
case "$arch" in
  amd64) triplet=x86_64-linux-gnu; icdarch=x86_64 ;;
  arm64) triplet=aarch64-linux-gnu; icdarch=aarch64 ;;
  *) die "unsupported architecture '$arch' (amd64 or arm64 only)" ;;
esac
root="$dir/root"
libdir="$root/usr/lib/$triplet"
lvp="$libdir/libvulkan_lvp.so"
icd="$dir/lvp25_icd.$icdarch.json"
runtime="$dir/xdg-runtime"

# The system loader is what Dawn dlopens (it looks beside dawn.node first, then the system).
find_loader() {
  local d
  for d in /usr/lib/$triplet /lib/$triplet /usr/lib64 /usr/lib /usr/local/lib; do
    [[ -e "$d/libvulkan.so.1" ]] && { echo "$d/libvulkan.so.1"; return 0; }
  done
  ldconfig -p 2>/dev/null | awk '/libvulkan\.so\.1 /{print $NF; exit}'
}
loader="$(find_loader || true)"
[[ -n "$loader" ]] || say "warning: no system libvulkan.so.1 (the Vulkan loader); install it: apt-get install -y --no-install-recommends libvulkan1"

missing_libs() { # prints the libraries libvulkan_lvp.so cannot resolve with our LD_LIBRARY_PATH
  LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$lvp" 2>/dev/null | awk '/not found/{print $1}'
}

if [[ -f "$lvp" && -f "$icd" && -z "$(missing_libs)" ]]; then
  say "cached in $dir"
else
  command -v apt-get >/dev/null || die "apt-get not found (this script needs Debian 12 / bookworm)"
  command -v dpkg-deb >/dev/null || die "dpkg-deb not found"
  codename="$(. /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-}")"
  [[ "$codename" == "bookworm" ]] || say "warning: this system is '${codename:-unknown}', not bookworm: the backports' libraries may not fit"

  # The mirror apt already uses for Debian here (deb822 .sources or one-line .list), else deb.debian.org.
  mirror="${EMBEDLAB_DEBIAN_MIRROR:-}"
  if [[ -z "$mirror" ]]; then
    mirror="$( { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{for (i = 2; i <= NF; i++) print $i}';
                 grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | sed -E 's/^deb +(\[[^]]*\] +)?//' | awk '{print $1}'; } \
               | grep -E '/debian/?$' | grep -v -- '-security' | head -n1 || true)"
    mirror="${mirror:-http://deb.debian.org/debian}"
  fi
  mirror="${mirror%/}"
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  signed=""
  [[ -f "$keyring" ]] && signed="[signed-by=$keyring] "

  apt_dir="$dir/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs" "$root"
  echo "deb ${signed}$mirror bookworm-backports main" > "$apt_dir/sources.list"
  apt_opts=(
    -o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=/nonexistent"
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "Dir::Cache::archives=$apt_dir/cache/archives"
    -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1" -q
  )
  say "apt-get update (private state in $apt_dir; mirror $mirror)"
  apt-get "${apt_opts[@]}" update >&2 || die "apt-get update of bookworm-backports failed (network? mirror $mirror)"

  # mesa-vulkan-drivers from the backports needs libdrm >= 2.4.123 (also from the backports); everything else
  # it links (LLVM 15, libexpat, libzstd, libxcb …) comes from the system.
  pkgs=(mesa-vulkan-drivers libdrm2 libdrm-amdgpu1)
  say "downloading ${pkgs[*]} from bookworm-backports"
  (cd "$apt_dir/debs" && rm -f ./*.deb && apt-get "${apt_opts[@]}" download "${pkgs[@]/%//bookworm-backports}" >&2) \
    || die "apt-get download failed"
  for deb in "$apt_dir"/debs/*.deb; do
    say "extracting $(basename "$deb")"
    dpkg-deb -x "$deb" "$root"
  done
  [[ -f "$lvp" ]] || die "libvulkan_lvp.so not found in the extracted packages ($lvp)"

  # The package's ICD json has an absolute /usr/lib/... path: point a copy at the extracted library.
  debs=("$apt_dir"/debs/mesa-vulkan-drivers_*.deb)
  version="$(dpkg-deb -f "${debs[0]}" Version)"
  api="$(cat "$root"/usr/share/vulkan/icd.d/lvp_icd*.json 2>/dev/null | sed -n 's/.*"api_version"[^"]*"\([^"]*\)".*/\1/p' | head -n1 || true)"
  cat > "$icd" <<EOF
{
    "ICD": {
        "api_version": "${api:-1.4.305}",
        "library_path": "$lvp"
    },
    "file_format_version": "1.0.1",
    "comment": "Mesa $version lavapipe, extracted by scripts/mesa25.sh"
}
EOF
  left="$(missing_libs)"
  [[ -z "$left" ]] || die "libvulkan_lvp.so still misses: $(echo $left) — install them from bookworm (apt-get install) or add their backports packages to this script"
  say "ready: Mesa $version lavapipe in $dir"
fi

mkdir -p "$runtime"
chmod 700 "$runtime"
cat > "$dir/env.sh" <<EOF
export VK_ICD_FILENAMES='$icd'
export LD_LIBRARY_PATH='$libdir'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export XDG_RUNTIME_DIR='$runtime'
EOF
cat "$dir/env.sh"
