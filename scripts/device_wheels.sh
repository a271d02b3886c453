#!/usr/bin/env bash
# Run HERE (with network), once, before scripts/device_check.sh goes to a lent GPU machine: that machine
# reaches no network, so the Python packages its image lacks travel as wheels in .whl/ (and the EGL / GL
# loaders as .debs in .gl/), both ignored by git and named in the device call's carry
# (see /work/.library/device/README.md):   run(command="bash scripts/device_check.sh", carry=[".whl", ".gl"])
# The image has Python 3.12, torch (CUDA), numba, numpy, pillow, safetensors, tqdm and pytest already.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo /.gl/ >> .git/info/exclude
WHEELS=(av==18.1.0 moderngl==5.13.0 glcontext==3.1.0 glfw==2.11.0 OpenEXR==3.5.3 mss==10.2.0)
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${WHEELS[@]}"
if command -v apt-get >/dev/null && [ "${LIVEHDR_NO_GL_DEBS:-}" = "" ]; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update -qq && (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -sh .whl .gl 2>/dev/null
