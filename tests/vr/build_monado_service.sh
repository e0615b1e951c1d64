#!/bin/bash
# Build (once per machine) Monado as an out-of-process runtime: monado-service plus the IPC client that the OpenXR
# loader loads. Same source tarball and drivers as ../shared/tools/openxr-monado/build.sh (which builds the
# in-process variant); the service variant lets a test kill the runtime in the middle of a session, exactly what
# happens when SteamVR or a headset's service crashes. Run build.sh of openxr-monado first (it installs the apt
# packages). Prints, as its last lines, the environment for a client and the path of monado-service:
#   eval "$(tests/vr/build_monado_service.sh | tail -n 4)"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tools=${VR_TOOLS:-$here/../../../shared/tools}
tarball=$tools/openxr-monado/monado-5980804.tar.xz
cache=${SURGITWIN_MONADO_SERVICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/surgitwin/monado-service-5980804}
json=$cache/build/openxr_monado-dev.json
service=$cache/build/src/xrt/targets/service/monado-service
if [[ ! -f $json || ! -x $service ]]; then
  [[ -f $tarball ]] || { echo "build_monado_service.sh: $tarball missing" >&2; exit 1; }
  rm -rf "$cache"; mkdir -p "$cache"
  tar -xJf "$tarball" -C "$cache"
  off=()
  for d in ANDROID ARDUINO DAYDREAM DEPTHAI EUROC HANDTRACKING HDK HYDRA ILLIXR NS OHMD OPENGLOVES PSMV PSSENSE PSVR \
           QWERTY REALSENSE REMOTE RIFT_S ROKID SIMULAVR STEAMVR_LIGHTHOUSE SURVIVE TWRAP ULV2 ULV5 VF VIVE WMR XREAL_AIR; do
    off+=("-DXRT_BUILD_DRIVER_$d=OFF")
  done
  cmake -S "$cache/monado" -B "$cache/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    -DXRT_BUILD_SAMPLES=OFF -DXRT_FEATURE_SERVICE=ON -DXRT_HAVE_SYSTEMD=OFF -DXRT_MODULE_COMPOSITOR_NULL=ON \
    -DXRT_MODULE_COMPOSITOR_MAIN=ON -DXRT_FEATURE_STEAMVR_PLUGIN=OFF -DXRT_MODULE_MONADO_GUI=OFF \
    -DXRT_MODULE_MONADO_CLI=OFF -DXRT_MODULE_AUX_VIVE=OFF -DXRT_BUILD_DRIVER_SIMULATED=ON "${off[@]}" >&2
  cmake --build "$cache/build" -j"$(nproc)" --target monado-service openxr_monado >&2
  [[ -f $json && -x $service ]] || { echo "build_monado_service.sh: build finished but $json or $service is missing" >&2; exit 1; }
fi
echo "export XR_RUNTIME_JSON=$json"
echo "export XRT_COMPOSITOR_NULL=1"
echo "export SIMULATED_ENABLE=1"
echo "export MONADO_SERVICE=$service"
