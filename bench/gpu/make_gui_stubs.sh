#!/usr/bin/env bash
# Builds stand-ins for the desktop libraries that OpenCvSharp's native library links (GTK, GDK, Pango, cairo, GLib,
# X11, ...) but that the worker never calls (no window is ever opened), for GPU machines without a desktop.
# Each stub has the real library's soname and defines the symbols libOpenCvSharpExtern.so takes from it:
# functions that return 0, data as zeroed blocks. libOpenCvSharpExtern.so binds lazily (no BIND_NOW), so only a
# call would reach a stub. The real libraries on this machine tell which symbol comes from which library.
#   usage: make_gui_stubs.sh path/to/libOpenCvSharpExtern.so OUT_DIR
set -euo pipefail
export LC_ALL=C
extern=$1
out=$2
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

nm -D --undefined-only "$extern" | awk '{print $2}' | sed 's/@.*//' | sort -u > "$work/undefined"
ldconfig -p > "$work/ldconfig"
gui='^lib(gtk-3|gdk-3|pangocairo-1\.0|pango-1\.0|atk-1\.0|cairo-gobject|cairo|gdk_pixbuf-2\.0|gio-2\.0|gobject-2\.0|glib-2\.0|X11|drm|freetype|harfbuzz)\.so'
readelf -d "$extern" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -E "$gui" > "$work/needed"
count=0
while read -r soname; do
  real=$(awk -v n="$soname" '$1 == n && /x86-64/ {print $NF}' "$work/ldconfig" | head -n 1)
  if [ -z "$real" ]; then
    echo "make_gui_stubs: $soname is not installed here; it tells which symbols the stub must define" >&2
    exit 1
  fi
  c="$work/${soname}.c"
  echo "/* stand-in for $soname: nothing here is meant to be called */" > "$c"
  nm -D --defined-only "$real" | awk '{sub(/@.*/, "", $3); print $3, $2}' | sort -u -k1,1 > "$work/defined"
  join "$work/undefined" "$work/defined" | while read -r symbol type; do
    case "$type" in
      T|t|W|i) echo "long $symbol(void) { return 0; }" ;;
      *) echo "char $symbol[256];" ;;
    esac
  done >> "$c"
  gcc -shared -fPIC -nostdlib -O1 -Wno-builtin-declaration-mismatch -o "$out/$soname" -Wl,-soname,"$soname" "$c"
  count=$((count + 1))
done < "$work/needed"
echo "make_gui_stubs: $count stubs in $out ($(du -sh "$out" | cut -f1))"
