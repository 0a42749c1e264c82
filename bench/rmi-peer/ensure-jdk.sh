#!/usr/bin/env bash
# Prints the bin folder of a JDK (with javac and java) on its last line of standard output, installing
# one with apt-get (default-jdk-headless) when none is found. Messages go to standard error.
# OCAPDGC_JAVA_HOME, or else JAVA_HOME, names a JDK to use instead of the one on the PATH.
set -euo pipefail

find_jdk() {
  local home
  for home in "${OCAPDGC_JAVA_HOME:-}" "${JAVA_HOME:-}"; do
    if [[ -n "$home" && -x "$home/bin/javac" && -x "$home/bin/java" ]]; then
      echo "$home/bin"
      return 0
    fi
  done

  local javac
  javac="$(command -v javac || true)"
  if [[ -n "$javac" ]]; then
    local bin
    bin="$(dirname "$(readlink -f "$javac")")"
    if [[ -x "$bin/java" ]]; then
      echo "$bin"
      return 0
    fi
  fi

  return 1
}

if find_jdk; then
  exit 0
fi

echo "javac not found (no JDK on the PATH, in OCAPDGC_JAVA_HOME or JAVA_HOME): installing default-jdk-headless with apt-get" >&2
if ! command -v apt-get >/dev/null; then
  echo "cannot install a JDK: apt-get is not available; install a JDK (17 or later) and put javac on the PATH, or set OCAPDGC_JAVA_HOME" >&2
  exit 1
fi

if [[ "$(id -u)" -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "cannot install a JDK: not root and no password-less sudo; run 'apt-get install -y default-jdk-headless' as root, or set OCAPDGC_JAVA_HOME" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get install -y -q default-jdk-headless >&2; then
  echo "apt-get install failed; updating the package lists and trying once more" >&2
  "${sudo[@]}" apt-get update -q >&2
  "${sudo[@]}" apt-get install -y -q default-jdk-headless >&2
fi

if find_jdk; then
  exit 0
fi

echo "default-jdk-headless was installed but javac is still not found on the PATH" >&2
exit 1
