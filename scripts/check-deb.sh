#!/bin/sh
# check-deb.sh DEB - install the package with dpkg -i (its dependencies must be there: apt
# would fetch them), check what it put where, run `herd demo` from it, remove it again. Needs
# root; refuses to touch a herd package that was installed before it ran. Used by .ci/run.
set -eu

deb=$1
[ -f "$deb" ] || { echo "check-deb.sh: no package $deb" >&2; exit 1; }
if dpkg-query -W -f='${db:Status-Status}' herd 2>/dev/null | grep -qx installed; then
    echo "check-deb.sh: a herd package is installed already; not touching it" >&2
    exit 1
fi
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
out=$(mktemp -d)
cleanup() {
    $sudo dpkg -r herd >/dev/null 2>&1 || true
    rm -rf "$out"
}
trap cleanup EXIT

echo "check-deb: $(dpkg-deb -f "$deb" Package Version Depends | tr '\n' ' ')"
$sudo dpkg -i "$deb" >/dev/null
for f in /usr/bin/herd /usr/share/man/man1/herd.1.gz /usr/share/bash-completion/completions/herd; do
    [ -e "$f" ] || { echo "check-deb.sh: $f is not installed" >&2; exit 1; }
done
# The man page renders without a warning; the completion script parses.
zcat /usr/share/man/man1/herd.1.gz | groff -man -Tutf8 -ww -z
bash -n /usr/share/bash-completion/completions/herd
/usr/bin/herd demo -d 1s -c 20 --out "$out" >"$out/demo.log" 2>&1 || {
    cat "$out/demo.log" >&2
    echo "check-deb.sh: herd demo from the package failed" >&2
    exit 1
}
ls "$out"/*.json >/dev/null
$sudo dpkg -r herd >/dev/null
[ ! -e /usr/bin/herd ] || { echo "check-deb.sh: dpkg -r left /usr/bin/herd" >&2; exit 1; }
echo "check-deb: installed, ran herd demo, removed: ok"
