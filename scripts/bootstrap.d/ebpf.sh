#!/usr/bin/env bash
# The eBPF backend's loader (syscorr/capture/ebpf/): clang, bpftool and libbpf from Debian, then
# `python -m syscorr.capture.ebpf` compiles the BPF program against this kernel's BTF and links
# the loader (a few seconds; skipped when the sources have not changed since the last build).
# Needs a Linux kernel with BTF (/sys/kernel/btf/vmlinux); elsewhere it says so and does nothing
# (the eBPF tests then skip, naming the reason). Run as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/../.."
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if [ "$(uname -s)" != Linux ] || [ ! -e /sys/kernel/btf/vmlinux ]; then
  echo "[ebpf] no kernel BTF here (/sys/kernel/btf/vmlinux): the eBPF backend cannot run; skipping its build" >&2
  exit 0
fi
need=()
command -v clang >/dev/null 2>&1 || need+=(clang llvm)
command -v bpftool >/dev/null 2>&1 || need+=(bpftool)
command -v cc >/dev/null 2>&1 || need+=(gcc)
[ -e /usr/include/bpf/libbpf.h ] || need+=(libbpf-dev)
[ -e /usr/include/libelf.h ] || need+=(libelf-dev)
[ -e /usr/include/zlib.h ] || need+=(zlib1g-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "[ebpf] installing ${need[*]} (apt-get) to build the eBPF loader" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
.venv/bin/python -m syscorr.capture.ebpf >&2
