#!/bin/sh
# check-build-deps.sh PKG... - before make compiles anything: are the C compiler, pkg-config and
# the libraries herd builds against (pkg-config names PKG...) there? Silent when they are;
# otherwise one message naming what is missing, the Debian packages that bring it and what to
# run, and exit 1 (instead of a compiler error about a missing header). Uses $CC and
# $PKG_CONFIG as the Makefile does.
cc=${CC:-cc}
pkg_config=${PKG_CONFIG:-pkg-config}

# pkg-config name -> the Debian package with its .pc file and headers
deb_of() {
    case $1 in
    openssl | libcrypto) echo libssl-dev ;;
    wolfssl) echo libwolfssl-dev ;;
    zlib) echo zlib1g-dev ;;
    yaml-0.1) echo libyaml-dev ;;
    jansson) echo libjansson-dev ;;
    *) echo "(the -dev package of $1)" ;;
    esac
}

what= # what is missing, for the message
debs= # the Debian packages that bring it
if ! command -v "${cc%% *}" >/dev/null 2>&1; then
    what="$what the C compiler ($cc);"
    debs="$debs build-essential"
fi
if ! command -v "$pkg_config" >/dev/null 2>&1; then
    what="$what $pkg_config;"
    debs="$debs pkg-config"
    for p in "$@"; do debs="$debs $(deb_of "$p")"; done
else
    missing=
    for p in "$@"; do
        if ! "$pkg_config" --exists "$p" 2>/dev/null; then
            missing="$missing $p"
            debs="$debs $(deb_of "$p")"
        fi
    done
    [ -z "$missing" ] || what="$what pkg-config packages$missing;"
fi
[ -n "$what" ] || exit 0

cat >&2 <<MSG
herd: cannot build: missing${what%;}.
  Debian packages:$debs
  Run \`make deps\` (scripts/setup-deps.sh: installs what is missing of the build and test
  packages, with sudo when not root), then \`make\` again; or \`make demo\` or \`make test\`,
  which install them first.
MSG
exit 1
