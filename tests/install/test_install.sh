#!/bin/sh
# The install test: install the build tree into a temporary prefix, then
# build and run programs against that prefix alone, as a user would.
#
#   test_install.sh BUILD_DIR LIBDIR CLIENT_SOURCE
#
# LIBDIR is the install's library directory relative to the prefix (CMake's
# CMAKE_INSTALL_LIBDIR).  $CC (default cc) compiles, with $EXTRA_CFLAGS
# (the sanitizer flags of a sanitizer build).  Checks:
#   - the libraries, the module libraries and the pkg-config files are in
#     PREFIX/LIBDIR: the runtime's compiled-in module directory is the
#     configured prefix's LIBDIR, so an install there finds its modules
#   - the installed cte-fuse and cte-fsck resolve the installed libraries
#     (RUNPATH) and cte-fuse --version runs
#   - every installed header compiles on its own with
#     $(pkg-config --cflags cte)
#   - CLIENT_SOURCE builds with $(pkg-config --cflags --libs cte) and runs
#     (LD_LIBRARY_PATH=PREFIX/LIBDIR; this prefix is not the configured one,
#     so CHI_MODULE_PATH tells the runtime where the modules are); it checks
#     that every library and module it loaded came from PREFIX/LIBDIR.
set -eu

build=$1
libdir_rel=$2
client_src=$3
CC=${CC:-cc}
EXTRA_CFLAGS=${EXTRA_CFLAGS:-}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cte-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix
libdir=$prefix/$libdir_rel

fail() {
	echo "test_install: $*" >&2
	exit 1
}

echo "test_install: cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log" >&2; fail "cmake --install failed"; }

for f in libchimaera.so libchimaera_bdev_client.so libcte_client.so \
	libchimaera_admin_runtime.so libchimaera_bdev_runtime.so \
	libwrp_cte_core_runtime.so \
	pkgconfig/chimaera.pc pkgconfig/chimaera_bdev.pc pkgconfig/cte.pc; do
	[ -e "$libdir/$f" ] || fail "not installed: $libdir_rel/$f"
done
for f in cte-fuse cte-fsck; do
	[ -x "$prefix/bin/$f" ] || fail "not installed: bin/$f"
done
[ ! -e "$prefix/bin/cte-fsck-journal" ] || fail "bin/cte-fsck-journal installed"

libdir_real=$(cd "$libdir" && pwd -P)

# The installed programs run without LD_LIBRARY_PATH and resolve this
# project's libraries in the install (their RUNPATH), not elsewhere.
for f in cte-fuse cte-fsck; do
	env -u LD_LIBRARY_PATH ldd "$prefix/bin/$f" >"$tmp/ldd" 2>&1 ||
		{ cat "$tmp/ldd" >&2; fail "ldd bin/$f"; }
	grep -E 'lib(chimaera|cte)[a-z_]*\.so' "$tmp/ldd" |
		while read -r name _ path _; do
			real=$(cd "$(dirname "$path")" 2>/dev/null && pwd -P) || real=
			[ "$real" = "$libdir_real" ] ||
				{ echo "bin/$f: $name => $path" >&2; exit 1; }
		done || fail "bin/$f: the libraries above are not those installed"
done
env -u LD_LIBRARY_PATH "$prefix/bin/cte-fuse" --version >"$tmp/version" 2>&1 ||
	{ cat "$tmp/version" >&2; fail "bin/cte-fuse --version"; }

PKG_CONFIG_PATH=$libdir/pkgconfig
export PKG_CONFIG_PATH
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
for pc in chimaera chimaera_bdev cte; do
	pkg-config --exists --print-errors "$pc" || fail "pkg-config $pc"
done
cflags=$(pkg-config --cflags cte)
libs=$(pkg-config --libs cte)
echo "test_install: pkg-config --cflags --libs cte: $cflags $libs"
case " $cflags " in
*" -I$prefix/include "*) ;;
*) fail "cte.pc Cflags do not name $prefix/include: $cflags" ;;
esac
case " $libs " in
*" -L$libdir "*) ;;
*) fail "cte.pc Libs do not name $libdir: $libs" ;;
esac

# Every installed header on its own: nothing it includes is missing.
n=0
for h in $(cd "$prefix/include" && find . -name '*.h' | sed 's|^\./||' | sort); do
	printf '#include "%s"\n' "$h" >"$tmp/hdr.c"
	# shellcheck disable=SC2086
	$CC -std=gnu11 -Wall -Wextra -Werror $EXTRA_CFLAGS $cflags \
		-c "$tmp/hdr.c" -o "$tmp/hdr.o" || fail "header $h does not compile"
	n=$((n + 1))
done
[ "$n" -gt 0 ] || fail "no headers installed"
echo "test_install: $n installed headers compile on their own"

# shellcheck disable=SC2086
$CC -std=gnu11 -Wall -Wextra -Werror $EXTRA_CFLAGS -o "$tmp/client" \
	"$client_src" $cflags $libs || fail "the client does not build"
LD_LIBRARY_PATH=$libdir CHI_MODULE_PATH=$libdir "$tmp/client" "$libdir" ||
	fail "the client failed"
