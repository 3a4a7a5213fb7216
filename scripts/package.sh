#!/usr/bin/env bash
# Build palisade's Debian packages from the workspace:
#
#   palisade               /usr/bin/palisade, palisade-fencer.service, palisade-node.service,
#                          man pages (palisade(1) and one per subcommand), bash completion
#   palisade-fence-agents  /usr/sbin/fence_* (ours, aliases as symlinks), their man pages.
#                          ClusterLabs' files of the same names (package fence-agents) are
#                          kept under a dpkg diversion in /usr/lib/palisade/clusterlabs/
#   palisade-sbd           /usr/sbin/palisade-sbd, /usr/sbin/sbd and sbd.service (ClusterLabs'
#                          sbd, if installed, diverted to /usr/lib/palisade/clusterlabs/), sbd(8)
#
# Usage: bash scripts/package.sh [--bindir DIR] [--out DIR]
#   --bindir DIR  take the binaries from DIR (default: `cargo build --release`, then
#                 target/release)
#   --out DIR     where the .deb files go (default: target/debian)
#   --compress C  dpkg-deb's compressor: xz (default), gzip or none (tests: none)
# Needs dpkg-deb, gzip and python3 (man pages of the agents from their metadata).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

bindir=""
out="$root/target/debian"
compress=xz
while (($#)); do
    case $1 in
        --bindir) bindir=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --compress) compress=$2; shift 2 ;;
        -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "package.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [[ -z $bindir ]]; then
    cargo build --release --workspace --bins
    bindir="$root/target/release"
fi
bindir=$(cd "$bindir" && pwd)
for b in palisade palisade-sbd fence_ipmilan; do
    [[ -x $bindir/$b ]] || { echo "package.sh: $bindir/$b is missing" >&2; exit 1; }
done

version=$("$bindir/palisade" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
mkdir -p "$out"
out=$(cd "$out" && pwd)
stage="$out/stage"
rm -rf "$stage"

# control FILE PACKAGE DESCRIPTION DEPENDS [EXTRA-LINES]
control() {
    local dir=$1 pkg=$2 desc=$3 depends=$4 extra=${5:-}
    local size
    size=$(du -sk --exclude=DEBIAN "$dir" | cut -f1)
    {
        echo "Package: $pkg"
        echo "Version: $version"
        echo "Architecture: $arch"
        echo "Maintainer: palisade developers <palisade@localhost>"
        echo "Installed-Size: $size"
        echo "Depends: $depends"
        [[ -n $extra ]] && echo "$extra"
        echo "Section: admin"
        echo "Priority: optional"
        echo "Homepage: https://github.com/palisade-ha/palisade"
        echo "Description: $desc"
    } >"$dir/DEBIAN/control"
}

docs() {
    local dir=$1 pkg=$2
    install -d "$dir/usr/share/doc/$pkg"
    cat >"$dir/usr/share/doc/$pkg/copyright" <<'TXT'
palisade: STONITH/fencing and arbitration-disk subsystem for Linux HA clusters.
Written by the palisade developers. See the project's repository for the license.
TXT
}

# Diversion scripts: keep another package's files of the same paths aside (ClusterLabs'
# programs in /usr/lib/palisade/clusterlabs/, out of pacemaker's agent listing) while ours
# are installed; give them back when ours go.
divert_scripts() {
    local dir=$1 pkg=$2
    shift 2 # then pairs: PATH DIVERTED-PATH
    local pairs=("$@") i
    {
        echo '#!/bin/sh'
        echo 'set -e'
        echo 'if [ "$1" = install ] || [ "$1" = upgrade ]; then'
        echo '    mkdir -p /usr/lib/palisade/clusterlabs'
        for ((i = 0; i < ${#pairs[@]}; i += 2)); do
            echo "    dpkg-divert --package $pkg --add --rename --divert ${pairs[i + 1]} ${pairs[i]} >/dev/null"
        done
        echo 'fi'
    } >"$dir/DEBIAN/preinst"
    {
        echo '#!/bin/sh'
        echo 'set -e'
        echo 'case "$1" in remove|purge|abort-install|disappear)'
        for ((i = 0; i < ${#pairs[@]}; i += 2)); do
            echo "    dpkg-divert --package $pkg --remove --rename --divert ${pairs[i + 1]} ${pairs[i]} >/dev/null"
        done
        echo '    rmdir /usr/lib/palisade/clusterlabs /usr/lib/palisade 2>/dev/null || true'
        echo ';; esac'
        echo 'if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi'
    } >"$dir/DEBIAN/postrm"
    chmod 0755 "$dir/DEBIAN/preinst" "$dir/DEBIAN/postrm"
}

reload_script() {
    local dir=$1
    printf '#!/bin/sh\nset -e\nif [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi\n' \
        >"$dir/DEBIAN/postinst"
    chmod 0755 "$dir/DEBIAN/postinst"
}

build() {
    local dir=$1 pkg=$2
    dpkg-deb --root-owner-group "-Z$compress" --build "$dir" "$out/${pkg}_${version}_${arch}.deb" >/dev/null
    echo "$out/${pkg}_${version}_${arch}.deb"
}

# --- palisade -----------------------------------------------------------------------
p="$stage/palisade"
install -d "$p/DEBIAN" "$p/usr/bin" "$p/lib/systemd/system" "$p/usr/share/man/man1" \
    "$p/usr/share/bash-completion/completions" "$p/usr/share/doc/palisade/examples"
install -s -m 0755 "$bindir/palisade" "$p/usr/bin/palisade"
install -m 0644 packaging/systemd/palisade-fencer.service packaging/systemd/palisade-node.service \
    packaging/systemd/palisade-web.service \
    "$p/lib/systemd/system/"
"$bindir/palisade" generate man "$p/usr/share/man/man1"
gzip -9n "$p"/usr/share/man/man1/*.1
"$bindir/palisade" generate completions bash >"$p/usr/share/bash-completion/completions/palisade"
"$bindir/palisade" daemon --show-default-config >"$p/usr/share/doc/palisade/examples/fencer-demo.toml"
for d in README.md docs/*.md; do
    install -m 0644 "$d" "$p/usr/share/doc/palisade/"
done
docs "$p" palisade
reload_script "$p"
cp "$p/DEBIAN/postinst" "$p/DEBIAN/postrm"
control "$p" palisade "fencing daemon, cluster node and CLI for Linux HA clusters
 palisade fences lost nodes before their services move: a fencer (devices, topology,
 parallel dispatch, fsynced history, a local API) and a compact cluster node (heartbeats,
 quorum, fence before failover, OCF/LSB/systemd resources). Units are installed but not
 enabled: they start once /etc/palisade/fencer.toml or node.toml exists." \
    "libc6 (>= 2.34), libgcc-s1" "Recommends: palisade-fence-agents"
build "$p" palisade

# --- palisade-fence-agents ----------------------------------------------------------
p="$stage/palisade-fence-agents"
install -d "$p/DEBIAN" "$p/usr/sbin" "$p/usr/share/man/man8"
pairs=()
for agent in "$bindir"/fence_*; do
    [[ -x $agent && ! -L $agent && $agent != *.d ]] || continue
    name=$(basename "$agent")
    meta=$("$agent" -o metadata)
    install -s -m 0755 "$agent" "$p/usr/sbin/$name"
    names=("$name")
    while read -r alias; do
        [[ -n $alias ]] || continue
        ln -s "$name" "$p/usr/sbin/$alias"
        names+=("$alias")
    done < <(python3 -c 'import sys, xml.etree.ElementTree as E
for s in E.fromstring(sys.stdin.read()).findall("symlink"): print(s.get("name"))' <<<"$meta")
    for n in "${names[@]}"; do
        python3 packaging/metadata2man.py "$n" <<<"$meta" >"$p/usr/share/man/man8/$n.8"
        gzip -9n "$p/usr/share/man/man8/$n.8"
        pairs+=("/usr/sbin/$n" "/usr/lib/palisade/clusterlabs/$n")
        pairs+=("/usr/share/man/man8/$n.8.gz" "/usr/share/man/man8/$n.clusterlabs.8.gz")
    done
done
docs "$p" palisade-fence-agents
divert_scripts "$p" palisade-fence-agents "${pairs[@]}"
control "$p" palisade-fence-agents "ClusterLabs-compatible fence agents in Rust
 Drop-in fence_* agents for pacemaker and palisade: the same options (argv and stdin),
 actions, exit codes, status lines and metadata as ClusterLabs' agents, native protocols
 (IPMI, Redfish, SNMP, SSH, sbd). ClusterLabs' files of the same names are diverted to
 /usr/lib/palisade/clusterlabs/ while this package is installed." \
    "libc6 (>= 2.34), libgcc-s1, libssl3, zlib1g"
build "$p" palisade-fence-agents

# --- palisade-sbd -------------------------------------------------------------------
p="$stage/palisade-sbd"
install -d "$p/DEBIAN" "$p/usr/sbin" "$p/lib/systemd/system" "$p/usr/share/man/man8"
install -s -m 0755 "$bindir/palisade-sbd" "$p/usr/sbin/palisade-sbd"
ln -s palisade-sbd "$p/usr/sbin/sbd"
install -m 0644 sbd/systemd/sbd.service "$p/lib/systemd/system/sbd.service"
install -m 0644 packaging/palisade-sbd.8 "$p/usr/share/man/man8/palisade-sbd.8"
gzip -9n "$p/usr/share/man/man8/palisade-sbd.8"
ln -s palisade-sbd.8.gz "$p/usr/share/man/man8/sbd.8.gz"
docs "$p" palisade-sbd
divert_scripts "$p" palisade-sbd \
    /usr/sbin/sbd /usr/lib/palisade/clusterlabs/sbd \
    /lib/systemd/system/sbd.service /usr/lib/palisade/clusterlabs/sbd.service \
    /usr/share/man/man8/sbd.8.gz /usr/share/man/man8/sbd.clusterlabs.8.gz
reload_script "$p"
control "$p" palisade-sbd "poison-pill disk fencing daemon, compatible with ClusterLabs sbd
 palisade-sbd shares sbd's on-disk format and command line (create, list, dump, message,
 watch) and its pacemaker and corosync integration. It is installed as /usr/sbin/sbd with
 ClusterLabs' sbd.service; ClusterLabs' sbd, if installed, and its unit are diverted
 to /usr/lib/palisade/clusterlabs/ while this package is installed." \
    "libc6 (>= 2.34), libgcc-s1" "Suggests: corosync, pacemaker"
build "$p" palisade-sbd
