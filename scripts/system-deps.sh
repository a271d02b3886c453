#!/usr/bin/env bash
# Debian/Ubuntu packages the tests and the window need: a virtual X server (10-bit capable) and Mesa's
# EGL/GL drivers (llvmpipe) for headless OpenGL; libX11 + libXext (MIT-SHM) for screen capture;
# PortAudio + its ALSA -> PulseAudio plugin for sound, PulseAudio (the tests start their own server) and
# mpv (--player mpv); util-linux (unshare) and iproute2 (ip) for the Ray tests' network namespaces.
# Installs only what is missing; needs root or sudo.
set -euo pipefail
pkgs=(xvfb x11-utils libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri libgles2 libx11-6 libxext6
      libportaudio2 libasound2-plugins pulseaudio pulseaudio-utils mpv util-linux iproute2)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "livehdr: please install: ${missing[*]} (Xvfb, Mesa EGL, PortAudio, PulseAudio, mpv) with your package manager" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "livehdr: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
