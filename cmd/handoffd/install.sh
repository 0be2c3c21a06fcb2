#!/bin/sh
# Install handoffd as a systemd service (handoff/1 spec §14):
#   sudo cmd/handoffd/install.sh 192.0.2.2:64646 [more handoffd flags]
# Builds the binary, creates the system user "handoffd", the state
# directory /var/lib/handoffd and the log directory /var/log/handoffd,
# writes /etc/default/handoffd and enables the unit. Open UDP port 64646
# (or yours) in the firewall yourself.
set -eu
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (it creates a user and a systemd unit)" >&2; exit 1; }
[ $# -ge 1 ] || { echo "usage: install.sh S:HP [handoffd flags]   e.g. install.sh 192.0.2.2:64646" >&2; exit 2; }
listen=$1; shift
here=$(cd "$(dirname "$0")" && pwd)

# Check the flags before touching the system: handoffd refuses bad ones
# with a message naming the flag.
go build -o /tmp/handoffd.$$ "$here"
/tmp/handoffd.$$ -check -listen "$listen" "$@" || { rm -f /tmp/handoffd.$$; exit 2; }
install -m 0755 /tmp/handoffd.$$ /usr/local/bin/handoffd
rm -f /tmp/handoffd.$$

getent group handoffd >/dev/null || groupadd --system handoffd
getent passwd handoffd >/dev/null || useradd --system --gid handoffd --home-dir /var/lib/handoffd --shell /usr/sbin/nologin handoffd
install -d -o handoffd -g handoffd -m 0700 /var/lib/handoffd
install -d -o handoffd -g handoffd -m 0750 /var/log/handoffd
printf 'HANDOFFD_ARGS="-listen %s %s"\n' "$listen" "$*" > /etc/default/handoffd
install -m 0644 "$here/handoffd.service" /etc/systemd/system/handoffd.service
systemctl daemon-reload
systemctl enable --now handoffd
systemctl --no-pager status handoffd || true
