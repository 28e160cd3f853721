#!/bin/sh
# The package test inside the VM (systemd is PID 1): configure the device, install the package
# with dpkg (its scripts make the users, the config folder's modes, enable and start the unit),
# then report what systemd says of the unit. Every line for the host starts "PORTICO-PACKAGE:".
say() { echo "PORTICO-PACKAGE: $*"; }
t=/root/portico-test
mkdir -p /etc/portico
cp "$t/device.toml" /etc/portico/device.toml
cp "$t/hub-ca.pem" /etc/portico/hub-ca.pem
# Copied as root's: the package's tmpfiles give it to the service user.
install -m 600 "$t/device.token" /etc/portico/device.token
if dpkg -i "$t/portico.deb"; then say "installed"; else say "dpkg failed"; fi
say "user $(id portico)"
say "config folder $(stat -c '%a %U:%G' /etc/portico) token $(stat -c '%a %U:%G' /etc/portico/device.token)"
state=
for _ in $(seq 1 120); do
  state=$(systemctl is-active portico)
  [ "$state" = active ] && break
  sleep 1
done
say "state $state"
say "enabled $(systemctl is-enabled portico)"
say "type $(systemctl show -p Type --value portico) watchdog $(systemctl show -p WatchdogUSec --value portico)"
# Longer than the watchdog: the daemon keeps pinging, so systemd keeps it.
sleep 30
say "later $(systemctl is-active portico) restarts $(systemctl show -p NRestarts --value portico)"
if portico status --config /etc/portico/device.toml > /tmp/status.txt 2>&1; then
  say "status answered"
else
  say "status failed"
fi
sed 's/^/status: /' /tmp/status.txt | head -n 12
# The token handed over by systemd instead (LoadCredential= in a drop-in, as a venue adds it):
# the file goes back to root, where the daemon cannot read it, and the daemon starts with its
# copy in $CREDENTIALS_DIRECTORY.
mkdir -p /etc/systemd/system/portico.service.d
printf '[Service]\nLoadCredential=device.token:/etc/portico/device.token\n' \
  > /etc/systemd/system/portico.service.d/credentials.conf
chown root:root /etc/portico/device.token
systemctl daemon-reload
systemctl restart portico
state=
for _ in $(seq 1 120); do
  state=$(systemctl is-active portico)
  [ "$state" = active ] && break
  sleep 1
done
if setpriv --reuid=portico --regid=portico --clear-groups cat /etc/portico/device.token >/dev/null 2>&1; then
  file=readable
else
  file=unreadable
fi
say "credential $state file $file for the service user"
journalctl -u portico --no-pager -o cat | tail -n 25 | sed 's/^/journal: /'
say "done"
systemctl poweroff --force --force
