#!/usr/bin/env bash
# One entry point for a fresh machine:
#   bash run.sh app    -> set up and start the Streamlit app on the shipped models
#   bash run.sh test   -> set up and run the test suite (what CI runs)
#   bash run.sh setup  -> only set up (.venv + system packages)
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES="espeak-ng ffmpeg fluidsynth fluid-soundfont-gm chromium chromium-driver"

need_apt() {
  local missing=()
  command -v espeak-ng >/dev/null || missing+=(espeak-ng)
  command -v ffmpeg >/dev/null || missing+=(ffmpeg)
  command -v fluidsynth >/dev/null || missing+=(fluidsynth)
  [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || missing+=(fluid-soundfont-gm)
  if [ "${1:-}" = test ]; then
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
  fi
  echo "${missing[@]:-}"
}

setup() {
  local mode="$1" missing
  missing="$(need_apt "$mode")"
  if [ -n "${missing// /}" ]; then
    if [ "$(id -u)" = 0 ]; then
      echo ">> installing system packages: $missing"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
      echo ">> missing system packages: $missing"
      echo ">> as root run: sudo apt-get update && sudo apt-get install -y $APT_PACKAGES"
    fi
  fi
  local req=requirements.txt
  [ "$mode" = test ] && req=requirements-dev.txt
  if [ ! -x .venv/bin/python ]; then
    echo ">> creating .venv"
    python3 -m venv .venv
  fi
  local stamp=".venv/.installed-$mode-$(cat requirements*.txt pyproject.toml | md5sum | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    echo ">> installing Python packages ($req)"
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$req" 2>&1 | grep -v "^WARNING: Location" || true
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e . 2>&1 | grep -v "^WARNING: Location" || true
    .venv/bin/python -c "import torch, torchaudio, audio_rnn" || { echo "installation failed"; exit 1; }
    touch "$stamp"
  fi
}

case "${1:-}" in
  app)
    setup app
    exec .venv/bin/streamlit run app.py "${@:2}"
    ;;
  test)
    setup test
    exec .venv/bin/python -m pytest -q "${@:2}"
    ;;
  setup)
    setup "${2:-test}"
    ;;
  *)
    echo "usage: bash run.sh app|test|setup" >&2
    exit 2
    ;;
esac
