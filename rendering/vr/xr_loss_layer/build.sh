#!/bin/bash
# Build (once per machine, cached by the sources' hash) SurgiTwin's OpenXR API layer that lets the OpenVR backend
# on OpenComposite survive a runtime lost mid-session (xr_loss_layer.c says how). Needs gcc and the OpenXR headers
# (Debian libopenxr-dev, which ../shared/tools/openxr-monado/build.sh installs; or set OPENXR_INCLUDE_DIR).
# Prints, as its last line, the environment that tells the OpenVR backend where the layer's manifest is:
#   eval "$(rendering/vr/xr_loss_layer/build.sh | tail -n 1)"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
hash=$(cat "$here/xr_loss_layer.c" "$here/manifest.json.in" "$here/build.sh" | sha256sum | cut -c1-12)
cache=${SURGITWIN_XR_LOSS_LAYER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/surgitwin/xr-loss-layer-$hash}
lib=$cache/libsurgitwin_xr_loss_layer.so
manifest=$cache/XR_APILAYER_SURGITWIN_runtime_loss.json
if [[ ! -f $lib || ! -f $manifest ]]; then
  include=${OPENXR_INCLUDE_DIR:-}
  if [[ -z $include ]]; then
    for dir in /usr/include /usr/local/include \
               "${XDG_CACHE_HOME:-$HOME/.cache}"/surgitwin/opencomposite-*/OpenComposite/libs/openxr-sdk/include; do
      [[ -f $dir/openxr/openxr.h ]] && { include=$dir; break; }
    done
  fi
  [[ -n $include && -f $include/openxr/openxr.h ]] \
    || { echo "build.sh: openxr/openxr.h not found (apt-get install libopenxr-dev, or set OPENXR_INCLUDE_DIR)" >&2; exit 1; }
  command -v gcc >/dev/null || { echo "build.sh: gcc not found (apt-get install gcc)" >&2; exit 1; }
  if [[ -z ${SURGITWIN_XR_LOSS_LAYER_CACHE:-} ]]; then  # builds of older sources are no longer wanted
    find "$(dirname "$cache")" -maxdepth 1 -name 'xr-loss-layer-*' ! -path "$cache" -exec rm -rf {} +
  fi
  mkdir -p "$cache"
  gcc -std=c11 -O2 -g -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden -I"$include" \
    -o "$lib.tmp" "$here/xr_loss_layer.c"
  mv "$lib.tmp" "$lib"
  sed "s|@LIBRARY_PATH@|$lib|" "$here/manifest.json.in" > "$manifest"
fi
echo "export SURGITWIN_XR_LOSS_LAYER=$manifest"
