# The postprocess script of debian-bookworm-server.toml. It runs with
# /bin/sh in a chroot of a copy of the built tree, without network; /etc is
# the image's /usr/etc.

# Every machine needs its own identity: no ssh host keys in the image (each
# machine makes its own before sshd first starts) and an empty machine-id
# (systemd makes one at first boot).
rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub
mkdir -p /usr/lib/systemd/system/ssh.service.d
cat > /usr/lib/systemd/system/ssh.service.d/host-keys.conf <<'UNIT'
[Service]
ExecStartPre=/usr/bin/ssh-keygen -A
UNIT
: > /etc/machine-id

# dbus's postinst made a random /var/lib/dbus/machine-id, which the build
# keeps in the factory for /var; with systemd, dbus reads /etc/machine-id.
rm -f /usr/share/factory/var/lib/dbus/machine-id
sed -i '\#^C /var/lib/dbus/machine-id #d' /usr/lib/tmpfiles.d/layer-*.conf
