#!/bin/sh
# Builds the Debian package: target/debian/herald_<version>-1_<arch>.deb with
# the release binary, the unit (ExecStart=/usr/bin/herald), the installed
# config as a conffile (/etc/herald/herald.toml, from system-config.sh), the
# man page and bash/zsh/fish completions. Needs cargo-deb:
#   cargo install cargo-deb --locked
#   sh systemd/build-deb.sh && sudo apt install ./target/debian/herald_*.deb
#
# HERALD_DEB_PROFILE=dev packages the debug build instead (CI does: it
# checks the package's contents, and the tests have built that binary
# already; a from-scratch release build would double CI's time).
set -eu
cd "$(dirname "$0")/.."
profile=${HERALD_DEB_PROFILE:-release}
cargo build --profile "$profile" --locked
case "$profile" in dev) dir=debug ;; *) dir=$profile ;; esac
assets=target/deb-assets
rm -rf "$assets"
mkdir -p "$assets/completions" "$assets/maintainer-scripts"
bin=target/$dir/herald
sed -e 's|/usr/local/bin/herald|/usr/bin/herald|' systemd/herald.service > "$assets/herald.service"
sh systemd/system-config.sh > "$assets/herald.toml"
"$bin" man | gzip -9n > "$assets/herald.1.gz"
"$bin" completions bash > "$assets/completions/herald"
"$bin" completions zsh > "$assets/completions/_herald"
"$bin" completions fish > "$assets/completions/herald.fish"
# Debian wants a changelog; the repository's history is the real one.
version=$("$bin" --version | cut -d' ' -f2)
cat > "$assets/changelog" <<CHANGELOG
herald ($version-1) unstable; urgency=medium

  * Built from the herald repository with cargo-deb; see its git history.

 -- herald developers <herald-maintainers@example.org>  $(date -R)
CHANGELOG
cargo deb --no-build --locked --strip --profile "$profile" "$@"
