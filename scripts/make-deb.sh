#!/bin/sh
# make-deb.sh STAGE OUTDIR VERSION - build OUTDIR/herd_VERSION_ARCH.deb from STAGE, a tree that
# `make install DESTDIR=STAGE PREFIX=/usr` filled. The runtime dependencies are what
# dpkg-shlibdeps (dpkg-dev, which build-essential brings) reads from the binary's shared
# libraries and their symbols files: the libraries herd was linked with, at the least versions
# its symbols need. The package is built as root-owned files by dpkg-deb --root-owner-group, so
# no root and no fakeroot are needed.
set -eu

stage=$1
outdir=$2
version=$3
[ -x "$stage/usr/bin/herd" ] || {
    echo "make-deb.sh: $stage/usr/bin/herd is missing (make install DESTDIR=$stage PREFIX=/usr)" >&2
    exit 1
}
for tool in dpkg-deb dpkg-shlibdeps; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "make-deb.sh: $tool is missing: apt-get install dpkg-dev" >&2
        exit 1
    }
done
arch=$(dpkg --print-architecture)

# dpkg-shlibdeps wants a source tree: a minimal debian/control in a scratch directory.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/debian"
printf 'Source: herd\n\nPackage: herd\nArchitecture: any\n' >"$scratch/debian/control"
bin=$(cd "$stage/usr/bin" && pwd)/herd
depends=$(cd "$scratch" && dpkg-shlibdeps -O -e"$bin" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || {
    echo "make-deb.sh: dpkg-shlibdeps found no dependencies of $bin" >&2
    exit 1
}

mkdir -p "$stage/DEBIAN" "$stage/usr/share/doc/herd"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: herd
Version: $version
Architecture: $arch
Maintainer: herd developers <herd@localhost>
Installed-Size: $size
Depends: $depends
Section: net
Priority: optional
Description: load generator for WebSocket and Server-Sent Events APIs
 herd opens many concurrent connections to a WebSocket or SSE endpoint, drives
 traffic through them and measures connection set-up, round trip, one-way
 publish-to-subscriber latency, fan-out and loss in HDR histograms, with JSON
 and CSV reports and thresholds for CI. It ships a built-in target, herd serve.
CONTROL
gzip -9n <"$stage/usr/share/man/man1/herd.1" >"$stage/usr/share/man/man1/herd.1.gz"
rm "$stage/usr/share/man/man1/herd.1"
printf 'herd %s: a load generator for WebSocket and SSE APIs. See herd(1).\n' "$version" \
    >"$stage/usr/share/doc/herd/README"

mkdir -p "$outdir"
out="$outdir/herd_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out" >/dev/null
echo "$out"
