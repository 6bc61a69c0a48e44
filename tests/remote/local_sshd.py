"""A throw-away OpenSSH server on 127.0.0.1 for tests/test_remote.py.

Everything lives in one work directory made by the test: host key, client key pair,
authorized_keys, sshd_config, pid file and log. Nothing in /etc/ssh is read or changed,
and the system ssh service is not used. The only system-wide effect: when running as
root, sshd insists on its privilege-separation directory (``/run/sshd``), which is
created (empty, mode 0755) if it is missing, as the openssh-server service would.

Also: :func:`write_remote_python`, the stand-in for the "remote" host's Python (see its
docstring), and :func:`descendants` to clean up by process id.
"""
from __future__ import annotations

import getpass
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Optional


class SshdUnavailable(RuntimeError):
    """sshd cannot be run here; the message says why (the test skips with it)."""


def find_sshd() -> Optional[str]:
    for cand in (shutil.which("sshd"), "/usr/sbin/sshd", "/usr/local/sbin/sshd"):
        if cand and os.access(cand, os.X_OK):
            return os.path.abspath(cand)  # sshd re-execs itself and requires an absolute path
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                # "pid (comm) state ppid ..."; comm may contain spaces/parens
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """Process ids of all living descendants of ``pid`` (Linux /proc)."""
    children, out, todo = _children_map(), [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _stat_fields(pid: int) -> Optional[list[str]]:
    """Fields of /proc/<pid>/stat after ``comm`` (state, ppid, ...), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def start_time(pid: int) -> Optional[int]:
    """Start time (clock ticks since boot): with the pid, identifies a process across pid reuse."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def snapshot(pids) -> dict[int, int]:
    """``{pid: start_time}`` of the living ``pids``, to kill exactly these processes later."""
    out = {}
    for p in pids:
        t = start_time(p)
        if t is not None and alive(p):
            out[p] = t
    return out


def kill_pids(procs, timeout: float = 5.0) -> list[int]:
    """SIGTERM, then SIGKILL after ``timeout``, the processes of a :func:`snapshot` (or pids, snapshotted
    now) that are still the same processes; returns the pids that were still alive."""
    if not isinstance(procs, dict):
        procs = snapshot(procs)
    same = lambda p: alive(p) and start_time(p) == procs[p]  # noqa: E731
    pids = [p for p in procs if same(p)]
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(same(p) for p in pids):
        time.sleep(0.05)
    for p in pids:
        if same(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return pids


class LocalSshd:
    """``sshd -D -e -f <workdir>/sshd_config`` on 127.0.0.1:<free port>, key login for the current user."""

    def __init__(self, workdir: Path, user: Optional[str] = None):
        self.workdir = Path(workdir)
        self.user = user or getpass.getuser()
        self.port: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None
        self.client_key = self.workdir / "client_ed25519"
        self.log_path = self.workdir / "sshd.log"
        self._log = None
        self._seen: dict[int, int] = {}   # pid -> start time of sshd's per-connection processes

    # -- setup -------------------------------------------------------------
    def _keygen(self, path: Path) -> None:
        keygen = shutil.which("ssh-keygen")
        if not keygen:
            raise SshdUnavailable("ssh-keygen not found (package openssh-client)")
        r = subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "nni-remote-test", "-f", str(path)],
                           capture_output=True, text=True)
        if r.returncode:
            raise SshdUnavailable(f"ssh-keygen failed: {r.stderr.strip()}")

    def _config(self) -> str:
        lines = {
            "Port": str(self.port),
            "ListenAddress": "127.0.0.1",
            "HostKey": str(self.workdir / "host_ed25519"),
            "PidFile": str(self.workdir / "sshd.pid"),
            "AuthorizedKeysFile": str(self.workdir / "authorized_keys"),
            "AllowUsers": self.user,
            "PubkeyAuthentication": "yes",
            "PasswordAuthentication": "no",
            "KbdInteractiveAuthentication": "no",
            "PermitRootLogin": "prohibit-password",
            "UsePAM": "no",
            # the work dir is under /tmp (world-writable): skip the ownership checks
            "StrictModes": "no",
            "PrintMotd": "no",
            "X11Forwarding": "no",
            "AllowTcpForwarding": "no",
            "Subsystem": "sftp internal-sftp",   # NNI uploads code and writes files over SFTP
            "LogLevel": "VERBOSE",
            "MaxStartups": "50",
        }
        return "".join(f"{k} {v}\n" for k, v in lines.items())

    def start(self, timeout: float = 15.0) -> "LocalSshd":
        sshd = find_sshd()
        if not sshd:
            raise SshdUnavailable("sshd not found: run tests/remote/ensure_sshd.sh "
                                  "(apt-get install openssh-server) to enable this test")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._keygen(self.workdir / "host_ed25519")
        self._keygen(self.client_key)
        auth = self.workdir / "authorized_keys"
        auth.write_text(Path(str(self.client_key) + ".pub").read_text())
        auth.chmod(stat.S_IRUSR | stat.S_IWUSR)
        if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        cfg = self.workdir / "sshd_config"
        for _attempt in range(3):  # a free port can be taken between choosing and binding it
            self.port = free_port()
            cfg.write_text(self._config())
            check = subprocess.run([sshd, "-t", "-f", str(cfg)], capture_output=True, text=True)
            if check.returncode:
                raise SshdUnavailable(f"sshd rejects the test config: {(check.stderr or check.stdout).strip()}")
            self._log = open(self.log_path, "ab")
            self.proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(cfg)], stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=subprocess.STDOUT)
            if self._wait_ready(timeout):
                return self
            self.stop()
            if "Address already in use" not in self.log_path.read_text(errors="replace"):
                break
        raise SshdUnavailable(f"sshd did not start on 127.0.0.1:{self.port}: "
                              f"{self.log_path.read_text(errors='replace').strip()[-800:]}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-2.0"):
                        return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def ssh(self, command: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run ``command`` through this server with the OpenSSH client (a smoke test of the login)."""
        ssh = shutil.which("ssh")
        if not ssh:
            raise SshdUnavailable("ssh client not found (package openssh-client)")
        return subprocess.run(
            [ssh, "-i", str(self.client_key), "-p", str(self.port), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no", "-o", f"UserKnownHostsFile={self.workdir / 'known_hosts'}",
             "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", f"{self.user}@127.0.0.1", command],
            capture_output=True, text=True, timeout=timeout)

    # -- teardown ----------------------------------------------------------
    def remember_children(self) -> None:
        """Record the current per-connection sshd processes (they call setsid and may outlive the listener)."""
        if self.proc is not None and self.proc.poll() is None:
            self._seen.update(snapshot(descendants(self.proc.pid)))

    def stop(self) -> list[int]:
        """Stop the listener and every process it forked; returns leftover pids that had to be killed."""
        leftovers: list[int] = []
        if self.proc is not None:
            self.remember_children()
            # Sessions first, while the listener is alive to reap them: an orphan would be
            # re-parented to PID 1, which in some containers never reaps (zombies stay).
            deadline = time.monotonic() + 5
            while self.proc.poll() is None and time.monotonic() < deadline and descendants(self.proc.pid):
                time.sleep(0.1)
            if self.proc.poll() is None:
                leftovers = kill_pids(list(reversed(descendants(self.proc.pid))))
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and descendants(self.proc.pid):
                    time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            leftovers += kill_pids(self._seen)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        return leftovers


def write_remote_python(bin_dir: Path, python: str, home: Path) -> Path:
    """The "remote" host's Python for NNI's ``pythonPath``: a directory with ``python``/``python3``.

    Both run ``python`` (this venv's interpreter) with ``HOME`` set to ``home``, because
    NNI 3.0's remote worker hard-codes ``~/nni-experiments`` on the remote host for the
    trial keeper, uploaded code and trial directories: on loopback that would be the
    real home of the user running the tests. They also answer NNI's unconditional
    ``python -m pip install nni --upgrade`` (run on every remote host at every
    experiment start) without touching the network or the venv.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    script = f"""#!/bin/sh
# Test stand-in for the remote host's Python (tests/remote/local_sshd.py).
HOME={shlex.quote(str(home))}
export HOME
if [ "$1" = "-m" ] && [ "$2" = "pip" ] && [ "$3" = "install" ]; then
    echo "remote-python stand-in: skipped 'pip $*' (offline test; nni is already installed)"
    exit 0
fi
exec {shlex.quote(python)} "$@"
"""
    for name in ("python", "python3"):
        p = bin_dir / name
        p.write_text(script)
        p.chmod(0o755)
    return bin_dir
