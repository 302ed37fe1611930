"""Throwaway Debian 13 (trixie) test hosts with a real systemd, reachable by root SSH.

Each host is a copy of a cached debootstrap image booted with ``systemd-nspawn -b``. The
container shares this machine's network, so its sshd listens on its own free port on
127.0.0.1 and the deploy under test reaches it exactly like a server: ``ssh`` with a key
generated for this host only. Teardown powers the container off, kills whatever is left
and removes the host folder, then checks that no process, mount or file remains.

    with throwaway_host() as host:
        host.run("systemctl is-system-running --wait")
        inventory = [host.pyinfra_host_data()]

CLI for trying a deploy by hand: ``python -m provisioning.testhost up|down|list``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SUITE = "trixie"
# Minimal on purpose: anything the deploy needs (cron, PostgreSQL, ...) it must install itself,
# otherwise the end-to-end tests would hide a missing package.
BASE_PACKAGES = "systemd,systemd-sysv,dbus,python3,openssh-server,ca-certificates,iproute2,procps"
DEFAULT_CACHE = "/var/cache/cognitive-memory/testhost"
DEFAULT_HOSTS_DIR = "/var/tmp/cogmem-hosts"
INSTALL_HINT = "run: apt-get install debootstrap systemd-container"
# A PATH and locale for commands run with nsenter, so they don't inherit our venv.
INSIDE_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"]
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class TestHostError(RuntimeError):
    """The test host could not be built, booted or removed."""


# --- paths and preconditions -------------------------------------------------------------------


def cache_dir() -> Path:
    return Path(os.environ.get("COGMEM_TESTHOST_CACHE", DEFAULT_CACHE))


def hosts_dir() -> Path:
    return Path(os.environ.get("COGMEM_TESTHOST_DIR", DEFAULT_HOSTS_DIR))


def base_image_path() -> Path:
    return cache_dir() / f"{SUITE}-base"


def check_requirements() -> None:
    """Fail early with the fix in the message, not deep inside debootstrap or nspawn."""
    if os.geteuid() != 0:
        raise TestHostError("throwaway test hosts need root (debootstrap, systemd-nspawn)")
    missing = [
        tool
        for tool in ("debootstrap", "systemd-nspawn", "nsenter", "ssh", "ssh-keygen")
        if shutil.which(tool) is None
    ]
    if missing:
        raise TestHostError(f"missing {', '.join(missing)}; {INSTALL_HINT} openssh-client")


# --- apt mirror: the one this machine already uses ---------------------------------------------


def _apt_uris() -> list[str]:
    """Every archive URI in this machine's apt sources (one-line and deb822 formats)."""
    uris: list[str] = []
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file() or path.suffix not in (".list", ".sources"):
            continue  # e.g. "*.disabled" files that apt itself ignores
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("deb "):
                uris += [w for w in line.split()[1:] if "://" in w][:1]
            elif line.startswith("URIs:"):
                uris += line.split()[1:]
    return uris


def debian_mirrors() -> tuple[str, str | None]:
    """(archive, security) URIs of the Debian mirror apt on this machine uses.

    COGMEM_TESTHOST_MIRROR overrides the archive; we never guess a host of our own.
    """
    uris = [u.rstrip("/") for u in _apt_uris()]
    archive = os.environ.get("COGMEM_TESTHOST_MIRROR") or next(
        (u for u in uris if u.endswith("/debian")), None
    )
    if not archive:
        raise TestHostError("no Debian mirror in /etc/apt/sources*; set COGMEM_TESTHOST_MIRROR")
    security = next((u for u in uris if u.endswith("/debian-security")), None)
    return archive.rstrip("/"), security


def _image_sources(archive: str, security: str | None) -> str:
    """deb822 sources for the image, from the same mirror debootstrap used."""
    text = (
        f"Types: deb\nURIs: {archive}\nSuites: {SUITE} {SUITE}-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
    if security:
        text += (
            f"\nTypes: deb\nURIs: {security}\nSuites: {SUITE}-security\n"
            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        )
    return text


# --- mounts and removal ------------------------------------------------------------------------


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below path, as this process's mount namespace sees them."""
    prefix = str(path.resolve()) if path.exists() else str(path)
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # Field 5 is the mount point, with spaces etc. octal-escaped.
        point = line.split()[4].encode().decode("unicode_escape")
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return found


def remove_tree(path: Path) -> None:
    """Unmount whatever a killed run left below path, then delete it without crossing mounts."""
    for point in sorted(mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False)
    if path.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


# --- base image --------------------------------------------------------------------------------


def ensure_base_image() -> Path:
    """Build the cached trixie image once; later calls return it at once.

    The build goes into a temporary folder next to the cache and is renamed into place, so a
    killed build never leaves a half image; a lock keeps two builds from racing.
    """
    check_requirements()
    image = base_image_path()
    if image.is_dir():
        return image
    image.parent.mkdir(parents=True, exist_ok=True)
    with open(image.parent / f".{image.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if image.is_dir():  # another process built it while we waited
            return image
        for stale in image.parent.glob(f".{image.name}.tmp-*"):
            remove_tree(stale)  # left by a killed build; we hold the lock, so nobody uses it
        tmp = Path(tempfile.mkdtemp(prefix=f".{image.name}.tmp-", dir=image.parent))
        try:
            _debootstrap(tmp)
            os.rename(tmp, image)
        finally:
            remove_tree(tmp)
    return image


def _debootstrap(root: Path) -> None:
    archive, security = debian_mirrors()
    cmd = ["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", SUITE, str(root)]
    cmd.append(archive)  # the mirror this machine's apt uses; the image's sources point there too
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise TestHostError(f"debootstrap failed:\n{_tail(result.stdout + result.stderr)}")
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(_image_sources(archive, security))
    # Every host gets its own sshd host keys and machine id; don't ship shared ones.
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    # apt-daily would take the apt lock at a random moment and fail the deploy under test.
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        (root / "etc/systemd/system/timers.target.wants" / timer).unlink(missing_ok=True)
    root.chmod(0o755)  # mkdtemp made it 0700, which would lock non-root services out of "/"
    subprocess.run(["chroot", str(root), "apt-get", "clean"], check=True)


# --- one host ----------------------------------------------------------------------------------


@dataclasses.dataclass
class TestHost:
    """A booted (or crashed) throwaway host and everything needed to reach or remove it."""

    __test__ = False  # not a pytest test class, despite the name

    name: str
    folder: Path
    ssh_port: int
    nspawn_pid: int = 0
    nspawn_start: int = 0  # process start times guard against a recycled PID
    container_pid: int = 0
    container_start: int = 0

    @property
    def root(self) -> Path:
        return self.folder / "rootfs"

    @property
    def key_path(self) -> Path:
        return self.folder / "id_ed25519"

    @property
    def ssh_config_path(self) -> Path:
        return self.folder / "ssh_config"

    @property
    def console_log(self) -> Path:
        return self.folder / "console.log"

    @property
    def ssh_url(self) -> str:
        """For testinfra, with ``ssh_config=str(host.ssh_config_path)`` or ``--ssh-config``."""
        return f"ssh://{self.name}"

    def ssh_command(self, *cmd: str) -> list[str]:
        return ["ssh", "-F", str(self.ssh_config_path), self.name, *cmd]

    def pyinfra_host_data(self) -> tuple[str, dict]:
        """One pyinfra 3 inventory entry: ``hosts = [host.pyinfra_host_data()]``."""
        return (
            "127.0.0.1",
            {
                "ssh_port": self.ssh_port,
                "ssh_user": "root",
                "ssh_key": str(self.key_path),
                "ssh_strict_host_key_checking": "no",
                "ssh_known_hosts_file": "/dev/null",
            },
        )

    def run(
        self, cmd: str | list[str], check: bool = False, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        """Run a command inside as root through nsenter (works even when sshd is down).

        A string goes through ``sh -c``; output is captured as text.
        """
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        return subprocess.run(
            ["nsenter", "-t", str(self.container_pid), "-a", "env", "-i", *INSIDE_ENV, *argv],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def ssh(
        self, cmd: str, check: bool = False, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        """Run a command inside through SSH, the way a deploy tool reaches the host."""
        return subprocess.run(
            self.ssh_command(cmd), capture_output=True, text=True, check=check, timeout=timeout
        )

    def save(self) -> None:
        state = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        state["folder"] = str(self.folder)
        (self.folder / "host.json").write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def load(cls, name: str) -> TestHost:
        """The host as saved by boot; a bare record if the folder came from a crashed run."""
        folder = hosts_dir() / name
        try:
            state = json.loads((folder / "host.json").read_text())
        except (OSError, ValueError):
            return cls(name=name, folder=folder, ssh_port=0)
        state["folder"] = Path(state["folder"])
        return cls(**state)


# --- processes -------------------------------------------------------------------------------


def _start_time(pid: int) -> int | None:
    """Start time of a live (non-zombie) process, None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # comm may contain spaces and ")"
    if fields[0] == "Z":
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap our own child so it stops counting as alive
        return None
    return int(fields[19])


def _alive(pid: int, start: int) -> bool:
    return pid > 0 and _start_time(pid) == start


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _nspawn_pids_for(root: Path) -> list[int]:
    """nspawn processes serving this rootfs, found by command line (for crashed runs)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            argv = proc.joinpath("cmdline").read_bytes().split(b"\0")
            if argv[0].endswith(b"systemd-nspawn") and str(root).encode() in argv:
                pids.append(int(proc.name))
    return pids


def _wait_gone(pids: list[tuple[int, int]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(_alive(p, s) for p, s in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now; the container shares our network."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- boot and teardown -------------------------------------------------------------------------


def boot(name: str | None = None, ssh_timeout: float = 60) -> TestHost:
    """Copy the cached image, configure SSH, boot it and wait until SSH answers."""
    image = ensure_base_image()
    name = name or f"cogmem-{secrets.token_hex(3)}"
    if not NAME_RE.match(name):
        raise TestHostError(f"bad host name {name!r}: use a-z, 0-9 and '-', up to 63 chars")
    host = TestHost(name=name, folder=hosts_dir() / name, ssh_port=free_port())
    if host.folder.exists():
        raise TestHostError(
            f"{host.folder} exists; remove it with: "
            f"python -m provisioning.testhost down --name {name}"
        )
    host.folder.mkdir(parents=True, mode=0o700)
    try:
        subprocess.run(["cp", "-a", "--reflink=auto", str(image), str(host.root)], check=True)
        _configure(host)
        _start(host)
        _wait_for_ssh(host, ssh_timeout)
    except BaseException:
        teardown(host)
        raise
    return host


def _configure(host: TestHost) -> None:
    """Everything the host needs before its first boot: name, DNS, SSH keys and port."""
    root = host.root
    (root / "etc/hostname").write_text(host.name + "\n")
    (root / "etc/hosts").write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{host.name}\n")
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    shutil.copy(Path("/etc/resolv.conf").resolve(), root / "etc/resolv.conf")
    # Fresh host keys per host, written by our ssh-keygen into the rootfs (-f is a prefix).
    subprocess.run(["ssh-keygen", "-A", "-f", str(root)], check=True, capture_output=True)
    (root / "etc/ssh/sshd_config.d/10-testhost.conf").write_text(
        f"Port {host.ssh_port}\nListenAddress 127.0.0.1\nPermitRootLogin prohibit-password\n"
    )
    keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{host.name}"]
    subprocess.run([*keygen, "-f", str(host.key_path)], check=True)
    host.key_path.chmod(0o600)
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    shutil.copy(host.key_path.with_suffix(".pub"), ssh_dir / "authorized_keys")
    (ssh_dir / "authorized_keys").chmod(0o600)
    host.ssh_config_path.write_text(
        f"Host {host.name}\n  HostName 127.0.0.1\n  Port {host.ssh_port}\n  User root\n"
        f"  IdentityFile {host.key_path}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n"
        "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  BatchMode yes\n"
    )


def add_sudo_user(host: TestHost, user: str = "deploy") -> None:
    """A login user with passwordless sudo and the host's key: a deploy as a non-root user.

    Installs sudo (the minimal image has none); ssh as ``user@`` with the host's key and config.
    """
    if not re.match(r"^[a-z_][a-z0-9_-]{0,31}$", user) or user == "root":
        raise TestHostError(f"bad user name {user!r}")
    install = (
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
        "apt-get install -y -qq --no-install-recommends sudo >/dev/null"
    )
    for command in (
        install,
        f"id -u {user} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash {user}",
        f"echo '{user} ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/90-{user}",
        f"chmod 440 /etc/sudoers.d/90-{user} && visudo -cq",
        f"install -d -m 700 -o {user} -g {user} /home/{user}/.ssh",
        f"install -m 600 -o {user} -g {user} /root/.ssh/authorized_keys /home/{user}/.ssh/",
    ):
        result = host.run(command, timeout=300)
        if result.returncode != 0:
            raise TestHostError(f"{command!r} failed on {host.name}:\n{_tail(result.stderr)}")


def _start(host: TestHost) -> None:
    """Start nspawn in its own session, console to a log file, and find the container's PID 1."""
    cmd = ["systemd-nspawn", "-D", str(host.root), "-M", host.name, "-b"]
    cmd += ["--register=no", "--keep-unit"]  # this machine runs no systemd/machined to use
    cmd += ["--console=read-only"]  # console output goes to our log; no TTY needed
    with open(host.console_log, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    host.nspawn_pid, host.nspawn_start = proc.pid, _start_time(proc.pid) or 0
    host.save()  # from here on `down` can find the processes even if we crash
    deadline = time.monotonic() + 20
    while not host.container_pid:
        kids = [pid for pid in _children(proc.pid) if _comm(pid) == "systemd"]
        if kids:
            host.container_pid, host.container_start = kids[0], _start_time(kids[0]) or 0
        elif proc.poll() is not None or time.monotonic() > deadline:
            raise TestHostError(f"systemd-nspawn did not start systemd:\n{_log_tail(host)}")
        else:
            time.sleep(0.1)
    host.save()


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _log_tail(host: TestHost) -> str:
    try:
        return _tail(host.console_log.read_text(errors="replace"))
    except OSError:
        return "(no console log)"


def _wait_for_ssh(host: TestHost, timeout: float) -> None:
    """Wait until root can log in with the key: the whole path a deploy tool will use."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            probe = subprocess.run(
                host.ssh_command("-o", "ConnectTimeout=2", "true"),
                capture_output=True,
                text=True,
                timeout=5,
            )
            if probe.returncode == 0:
                return
            last = probe.stderr.strip()
        except subprocess.TimeoutExpired:
            last = "ssh timed out"
        if not _alive(host.container_pid, host.container_start):
            raise TestHostError(f"{host.name} stopped while booting:\n{_log_tail(host)}")
        if time.monotonic() > deadline:
            raise TestHostError(
                f"SSH on 127.0.0.1:{host.ssh_port} did not answer within "
                f"{timeout:.0f} s ({last}); console:\n{_log_tail(host)}"
            )
        time.sleep(0.5)


def _processes(host: TestHost) -> list[tuple[int, int]]:
    """(pid, start time) of the host's live nspawn and container PID 1."""
    procs = [(host.nspawn_pid, host.nspawn_start), (host.container_pid, host.container_start)]
    procs += [(pid, _start_time(pid) or 0) for pid in _nspawn_pids_for(host.root)]
    return [(pid, start) for pid, start in procs if _alive(pid, start)]


def leftovers(host: TestHost) -> list[str]:
    """What of the host still exists: processes, mounts, its folder. Empty after teardown."""
    found = [f"process {pid}" for pid, _ in _processes(host)]
    found += [f"mount {point}" for point in mounts_under(host.folder)]
    return found + ([f"folder {host.folder}"] if host.folder.exists() else [])


def teardown(host: TestHost, timeout: float = 30) -> None:
    """Power the host off, kill what is left, remove its folder, and check nothing remains."""
    procs = _processes(host)
    if _alive(host.container_pid, host.container_start):
        # A clean poweroff lets nspawn unmount and exit by itself.
        subprocess.run(
            ["nsenter", "-t", str(host.container_pid), "-a", "systemctl", "poweroff"],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    if not _wait_gone(procs, timeout):
        for pid, start in procs:
            if _alive(pid, start):
                # SIGKILL on the container's PID 1 kills its whole PID namespace; nspawn's own
                # process group goes too. Neither dies with the other, so kill both.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    os.killpg(pid, signal.SIGKILL)
        _wait_gone(procs, 10)
    remove_tree(host.folder)
    if left := leftovers(host):
        raise TestHostError(f"teardown of {host.name} left: {', '.join(left)}")


def list_hosts() -> list[TestHost]:
    folder = hosts_dir()
    return [TestHost.load(p.name) for p in sorted(folder.iterdir())] if folder.is_dir() else []


@contextlib.contextmanager
def throwaway_host(name: str | None = None, **kw) -> Iterator[TestHost]:
    """Boot a host for the duration of the block; it is always torn down afterwards."""
    host = boot(name, **kw)
    try:
        yield host
    finally:
        teardown(host)


# --- CLI ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m provisioning.testhost",
        description="Throwaway Debian 13 hosts for trying a deploy.",
    )
    parser.add_argument("action", choices=["up", "down", "list"])
    parser.add_argument("--name", help="host name (default: a random one for up, all for down)")
    args = parser.parse_args(argv)
    try:
        check_requirements()
        if args.action == "up":
            host = boot(args.name)
            data = host.pyinfra_host_data()
            print(f"{host.name} is up; shell:  {shlex.join(host.ssh_command())}")
            print(f"  or without SSH:  nsenter -t {host.container_pid} -a bash")
            print(f"pyinfra inventory:  hosts = [{data!r}]")
            print(f"testinfra:  pytest --hosts={host.ssh_url} --ssh-config={host.ssh_config_path}")
            print(f"remove it:  python -m provisioning.testhost down --name {host.name}")
        elif args.action == "down":
            hosts = [TestHost.load(args.name)] if args.name else list_hosts()
            for host in hosts:
                existed = bool(leftovers(host))
                teardown(host)
                print(f"{host.name} removed" if existed else f"{host.name}: nothing to remove")
        else:
            for host in list_hosts():
                state = "running" if _alive(host.container_pid, host.container_start) else "dead"
                print(f"{host.name}\t{state}\tssh port {host.ssh_port}\t{host.folder}")
    except TestHostError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
