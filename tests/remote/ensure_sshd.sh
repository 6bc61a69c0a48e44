#!/bin/sh
# Make sure an OpenSSH server binary is available for tests/test_remote.py.
# Safe to run repeatedly; installs nothing when sshd is already there. Does NOT start or
# enable the system ssh service: the test runs its own sshd on 127.0.0.1 with a temporary
# config, host key and authorized key, and stops it afterwards.
# Needs root (apt-get) only when openssh-server is missing; otherwise it is a no-op.
set -eu
if command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ]; then
    echo "ensure_sshd: $( (command -v sshd || echo /usr/sbin/sshd) | head -n1) present"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure_sshd: sshd missing and not root; tests/test_remote.py will be skipped" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_sshd: sshd missing and no apt-get; tests/test_remote.py will be skipped" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d in containers usually stops the postinst from starting the service; either way
# the test does not use the system service. A failed install is reported, not fatal: the
# test then skips and says why.
if apt-get update -qq && apt-get install -y -qq --no-install-recommends openssh-server >/dev/null; then
    echo "ensure_sshd: installed $(/usr/sbin/sshd -V 2>&1 | head -n1)"
else
    echo "ensure_sshd: apt-get could not install openssh-server; tests/test_remote.py will be skipped" >&2
fi
