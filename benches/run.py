#!/usr/bin/env python3
"""The reproducible benchmark of loadgen (Python 3.11, standard library only).

    python3 benches/run.py              # closed-loop comparison with wrk and oha (3 rounds x 10 s per tool)
    python3 benches/run.py --quick      # smoke test: 1 round x 3 s
    python3 benches/run.py --all        # closed loop + --scale + --ultimate + --latency (about 10 minutes)

See benches/README.md for what each run measures and how. Every byte of load goes to 127.0.0.1, and every
run is bounded in time (the tools' own duration, and a watchdog that interrupts, then kills, a run that
overstays). Everything printed is also written to benches/results/<UTC date>-<time>.txt, and the raw outputs
(wrk's text, oha's and loadgen's JSON) to benches/results/<UTC date>-<time>/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
BUILT = REPO / "target" / "release" / "loadgen"
LOADGEN = BUILT  # replaced by a private copy after the build (see build_loadgen)
MUSL_TARGET = "x86_64-unknown-linux-musl"  # the container image's build (deploy/docker/Dockerfile)
BUILT_MUSL = REPO / "target" / MUSL_TARGET / "release" / "loadgen"
# --loadgen-mimalloc: the builds with mimalloc as the global allocator (RUSTFLAGS="--cfg loadgen_mimalloc", see
# src/main.rs), in a target directory of their own so that their RUSTFLAGS do not make the next ordinary build
# start over.
MIMALLOC_DIR = REPO / "target" / "bench-mimalloc"
MIMALLOC_CFG = "--cfg loadgen_mimalloc"
# Every loadgen build under test, (label, private copy): "loadgen" (the glibc build, LOADGEN) first, then
# --loadgen-musl's and --loadgen-bin's. The targets (serve-demo) always run LOADGEN.
BUILDS: list[tuple[str, Path]] = []
SCEN = BENCH / "scenarios"
NGINX_BODY = b'{"status":"ok","items":[1,2,3]}'
CLOSED_USERS = 64  # wrk -c64, oha -c 64, benches/scenarios/nginx_closed.toml
ALL_CORES_TITLE = ", loadgen on every core (one worker thread per core), sharing core 0 with the target"
WANT_NOFILE = 65536  # asked for the load tool and the servers; the hard limit caps it

# --------------------------------------------------------------------------------------------------------------
# Output: everything goes to the terminal and to the results file.


class Out:
    def __init__(self) -> None:
        self.file = None

    def open(self, path: Path) -> None:
        self.file = open(path, "w", encoding="utf-8")

    def __call__(self, msg: str = "") -> None:
        print(msg, flush=True)
        if self.file:
            self.file.write(msg + "\n")
            self.file.flush()


out = Out()


def die(msg: str, code: int = 2) -> None:
    out(f"error: {msg}")
    raise SystemExit(code)


# --------------------------------------------------------------------------------------------------------------
# Processes: pinning, limits, exact CPU time and peak RSS of a child from wait4, cleanup.

LIVE: list[subprocess.Popen] = []  # every process started here that may still run; killed on exit


def nofile_hard() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def child_setup(core: int | set[int] | None, nofile: int | None, group: bool = False):
    """preexec_fn: pin the child to one core (or a set of cores: --all-cores) and raise its open-files limit
    (soft up to the hard limit; the hard limit too where the privilege allows); with group, make it a process
    group of its own."""

    def setup() -> None:
        if group:
            os.setpgid(0, 0)
        if core is not None:
            os.sched_setaffinity(0, core if isinstance(core, set) else {core})
        if nofile:
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (max(nofile, soft), max(nofile, hard)))
            except (ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    return setup


def machine_busy_s() -> float:
    """CPU time all cores spent not idle (user, nice, system, irq, softirq, steal), from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float | None:
    """utime+stime of a running process (and its reaped children) from /proc, in seconds (10 ms ticks)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class Measured:
    """One finished child: its exit code and what the kernel accounted to it (wait4's rusage)."""

    cmd: list[str]
    rc: int
    wall_s: float
    user_s: float
    sys_s: float
    maxrss_kib: int
    stdout: str
    stderr: str
    timed_out: bool = False
    target_cpu_s: float | None = None  # CPU the server used during the run, from /proc
    busy_s: float | None = None  # CPU the whole machine used during the run, from /proc/stat

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    def explain_failure(self) -> str:
        why = "overstayed its time limit and was stopped" if self.timed_out else f"exited with code {self.rc}"
        tail = "\n".join(("    " + ln) for ln in self.stderr.strip().splitlines()[-25:]) or "    (no stderr)"
        return f"{' '.join(self.cmd)}\n  {why}; its stderr:\n{tail}"


def gnu_time() -> str:
    return shutil.which("time", path="/usr/bin:/bin") or "/usr/bin/time"


def run_measured(
    cmd: list[str],
    core: int | set[int] | None,
    limit_s: float,
    nofile: int | None = None,
    target_pid: int | None = None,
    log_dir: Path | None = None,
    log_name: str = "",
) -> Measured:
    """Runs cmd to completion and returns what the kernel accounted to it.

    CPU: os.wait4 on our child gives ru_utime + ru_stime, in microseconds, of the child and of every descendant
    it reaped: the tool, all its threads, exactly, whatever else runs on the machine.

    Peak RSS: not wait4's ru_maxrss of our child. Linux keeps a process's peak across exec, and a child forked
    from this script starts as a copy of it, so every direct child would report at least this Python's RSS
    (~15 MiB: more than wrk's whole footprint). The child is therefore GNU time (/usr/bin/time, a ~1.6 MiB
    process), which forks and execs the tool and writes the tool's own ru_maxrss (%M, KiB) from its wait4. Its
    own CPU (about a millisecond) is in the wait4 figure; negligible.

    The child runs in its own process group, pinned and with its open-files limit raised (inherited by the tool).
    A run still going after limit_s gets SIGINT (the group: GNU time ignores it, the tool stops gracefully), then
    SIGKILL 10 s later."""
    with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se, \
            tempfile.NamedTemporaryFile("w+", suffix=".time") as tf:
        wrapped = [gnu_time(), "-o", tf.name, "-f", "%M", *cmd]
        target_before = proc_cpu_s(target_pid) if target_pid else None
        busy_before = machine_busy_s()
        t0 = time.monotonic()
        p = subprocess.Popen(
            wrapped, stdin=subprocess.DEVNULL, stdout=so, stderr=se, preexec_fn=child_setup(core, nofile, group=True),
            cwd=REPO,
        )
        LIVE.append(p)
        timed_out = False
        signalled_at = None
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            now = time.monotonic()
            if now - t0 > limit_s and signalled_at is None:
                timed_out = True
                signalled_at = now
                signal_group(p, signal.SIGINT)
            elif signalled_at is not None and now - signalled_at > 10:
                signal_group(p, signal.SIGKILL)
            time.sleep(0.05)
        LIVE.remove(p)  # reaped (an exception above leaves it in LIVE, for cleanup() to stop)
        wall = time.monotonic() - t0
        busy = machine_busy_s() - busy_before
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
        target_cpu = None
        if target_pid and target_before is not None:
            after = proc_cpu_s(target_pid)
            target_cpu = None if after is None else after - target_before
        so.seek(0)
        se.seek(0)
        tf.seek(0)
        time_lines = tf.read().strip().splitlines()  # "Command exited with non-zero status N" may come first
        try:
            maxrss = int(time_lines[-1])
        except (IndexError, ValueError):
            maxrss = 0
        m = Measured(
            cmd=cmd,
            rc=p.returncode,  # GNU time exits with the tool's code (128 + N when signal N ended it)
            wall_s=wall,
            user_s=ru.ru_utime,
            sys_s=ru.ru_stime,
            maxrss_kib=maxrss,
            stdout=so.read(),
            stderr=se.read(),
            timed_out=timed_out,
            target_cpu_s=target_cpu,
            busy_s=busy,
        )
    if log_dir and log_name:
        (log_dir / f"{log_name}.stdout.txt").write_text(m.stdout)
        if m.stderr:
            (log_dir / f"{log_name}.stderr.txt").write_text(m.stderr)
    return m


def signal_group(p: subprocess.Popen, sig: int) -> None:
    """Signals the process group of a child started with group=True (its id is the child's pid)."""
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass


def stop_process(p: subprocess.Popen, sig: int = signal.SIGTERM, grace_s: float = 10.0):
    """Stops a server started here (by its pid) and returns its rusage, or None if already reaped."""
    if p.returncode is None:
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_s
    group = bool(p.args) and p.args[0] == gnu_time()
    while True:
        try:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if pid == p.pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            if p in LIVE:
                LIVE.remove(p)
            return ru
        if time.monotonic() > deadline:
            signal_group(p, signal.SIGKILL) if group else p.kill()
            deadline = time.monotonic() + 5
        time.sleep(0.05)


def cleanup() -> None:
    for p in list(LIVE):
        if p.args and p.args[0] == gnu_time():  # a measured tool: its own process group
            signal_group(p, signal.SIGTERM)
        stop_process(p, signal.SIGTERM, grace_s=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            die(f"{what} exited at start (code {proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    die(f"{what} did not listen on 127.0.0.1:{port} within {timeout_s:.0f} s")


# --------------------------------------------------------------------------------------------------------------
# Prerequisites


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, text=True, capture_output=True, **kw)


def oha_path() -> str | None:
    found = shutil.which("oha")
    if found:
        return found
    home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")) / "bin" / "oha"
    return str(home) if home.exists() else None


def install_prerequisites(want_oha: bool) -> str | None:
    """apt-get install nginx wrk h2load (nghttp2-client) when missing (apt-get update only if the first try fails); cargo install
    oha --locked when missing. Returns the oha path, or None when oha is skipped."""
    need = {"nginx": "nginx", "wrk": "wrk", "time": "time", "h2load": "nghttp2-client"}  # command -> Debian package (time: GNU time, for peak RSS)
    missing = [pkg for cmd, pkg in need.items() if not shutil.which(cmd, path="/usr/bin:/usr/sbin:/bin:" + os.environ.get("PATH", ""))]
    if missing:
        out(f"installing {' '.join(missing)} with apt-get ...")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        r = sh(["apt-get", "install", "-y", *missing], env=env)
        if r.returncode != 0:
            out("  apt-get install failed; running apt-get update first ...")
            u = sh(["apt-get", "update"], env=env)
            if u.returncode != 0:
                die(f"apt-get update failed:\n{u.stderr[-2000:]}")
            r = sh(["apt-get", "install", "-y", *missing], env=env)
            if r.returncode != 0:
                die(f"apt-get install -y {' '.join(missing)} failed:\n{r.stderr[-2000:]}")
    if not want_oha:
        return None
    path = oha_path()
    if path:
        return path
    if not shutil.which("cargo"):
        out("oha: not installed and cargo is missing, so oha is skipped")
        return None
    out("installing oha with `cargo install oha --locked` (this compiles it: several minutes) ...")
    r = sh(["cargo", "install", "oha", "--locked"])
    path = oha_path()
    if r.returncode != 0 or not path:
        tail = "\n".join("    " + ln for ln in r.stderr.strip().splitlines()[-15:])
        out(f"oha: `cargo install oha --locked` failed (exit {r.returncode}), so oha is SKIPPED:\n{tail}")
        return None
    return path


def binary_size(path: Path) -> str:
    """The binary's size, and stripped (symbols and debug line tables removed, as `strip` does) when binutils'
    strip is there: what an image without debug information would hold."""
    size = path.stat().st_size
    text = f"{size / 2**20:.1f} MiB"
    strip = shutil.which("strip")
    if strip:
        with tempfile.TemporaryDirectory(prefix="loadgen-bench-strip-") as d:
            stripped = Path(d) / "loadgen"
            if sh([strip, "-o", str(stripped), str(path)]).returncode == 0:
                text += f" ({stripped.stat().st_size / 2**20:.1f} MiB stripped)"
    return text


def cargo_build(what: str, cmd: list[str], built: Path, copy: Path, env: dict | None = None) -> None:
    """Runs a cargo build, then keeps a private copy of the binary: every run of this benchmark uses the same
    build even if target/ is rebuilt meanwhile (src/ may be changing under us)."""
    out(f"building {what}: {' '.join(cmd)} ...")
    t0 = time.monotonic()
    r = sh(cmd, cwd=REPO, env=env)
    if r.returncode != 0 or not built.exists():
        die(f"{' '.join(cmd)} failed (exit {r.returncode}):\n{r.stderr[-4000:]}")
    shutil.copy2(built, copy)
    digest = hashlib.sha256(copy.read_bytes()).hexdigest()[:16]
    out(f"  built in {time.monotonic() - t0:.0f} s: {built.relative_to(REPO)} (sha256 {digest}…, {binary_size(copy)}), "
        f"copied to {copy} for the runs")


def build_loadgen(workdir: Path, musl: bool, mimalloc: bool, extra: list[tuple[str, Path]]) -> None:
    """cargo build --release (the glibc build: every run's "loadgen", and serve-demo); with musl, also
    cargo build --release --target x86_64-unknown-linux-musl ("loadgen-musl", the container image's build); with
    mimalloc, each of those again with mimalloc as the global allocator ("loadgen-mimalloc",
    "loadgen-musl-mimalloc"); extra: prebuilt binaries (label, path), copied too."""
    global LOADGEN
    LOADGEN = workdir / "loadgen"
    cargo_build("loadgen", ["cargo", "build", "--release"], BUILT, LOADGEN)
    BUILDS.append(("loadgen", LOADGEN))
    flags = (os.environ.get("RUSTFLAGS", "") + " " + MIMALLOC_CFG).strip()
    env = dict(os.environ, RUSTFLAGS=flags, CARGO_TARGET_DIR=str(MIMALLOC_DIR))
    how = f"RUSTFLAGS=\"{flags}\", CARGO_TARGET_DIR={MIMALLOC_DIR.relative_to(REPO)}"
    if mimalloc:
        copy = workdir / "loadgen-mimalloc"
        cargo_build(f"loadgen with mimalloc ({how})", ["cargo", "build", "--release"],
                    MIMALLOC_DIR / "release" / "loadgen", copy, env)
        BUILDS.append(("loadgen-mimalloc", copy))
    if musl:
        copy = workdir / "loadgen-musl"
        cargo_build("loadgen (musl)", ["cargo", "build", "--release", "--target", MUSL_TARGET], BUILT_MUSL, copy)
        BUILDS.append(("loadgen-musl", copy))
    if musl and mimalloc:
        copy = workdir / "loadgen-musl-mimalloc"
        cargo_build(f"loadgen (musl) with mimalloc ({how})", ["cargo", "build", "--release", "--target", MUSL_TARGET],
                    MIMALLOC_DIR / MUSL_TARGET / "release" / "loadgen", copy, env)
        BUILDS.append(("loadgen-musl-mimalloc", copy))
    for label, path in extra:
        copy = workdir / label
        shutil.copy2(path, copy)
        digest = hashlib.sha256(copy.read_bytes()).hexdigest()[:16]
        out(f"{label}: {path} (sha256 {digest}…, {binary_size(copy)}), copied to {copy} for the runs")
        BUILDS.append((label, copy))


def describe_machine(cores: tuple[int | None, int | None], oha: str | None) -> None:
    def first_line(cmd: list[str]) -> str:
        try:
            r = sh(cmd)
            text = (r.stdout or r.stderr).strip()
            return text.splitlines()[0] if text else "?"
        except OSError:
            return "?"

    cpu = "?"
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    rev = first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "-C", str(REPO), "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"]).stdout
    out(f"machine   {cpu}; {os.cpu_count()} cores; {platform.system()} {platform.release()}")
    out(f"loadgen   {first_line([str(LOADGEN), '--version'])} at {rev}{' + uncommitted changes in src/' if dirty.strip() else ''}")
    for label, path in BUILDS[1:]:
        out(f"          {label}: {first_line([str(path), '--version'])}, {binary_size(path)}")
    out(f"wrk       {first_line(['wrk', '--version'])}")
    out(f"oha       {first_line([oha, '--version']) if oha else 'skipped'}")
    out(f"nginx     {first_line(['nginx', '-v'])}")
    tgt, tool = cores
    if tool is None:
        out("pinning   none: fewer than 2 cores, target and tool share the machine")
    else:
        out(f"pinning   target (nginx / serve-demo) on core {tgt}, load tool on core {tool}, this script on core {tgt}")
    b0, t0 = machine_busy_s(), time.monotonic()
    time.sleep(2)
    idle_load = 100 * (machine_busy_s() - b0) / (time.monotonic() - t0)
    out(f"load      {idle_load:.0f}% of a core busy over 2 s before the runs"
        + (" — WARNING: the machine is not quiet; rates and latencies will be noisy (CPU per request much less so)"
           if idle_load > 15 else ""))
    out(f"nofile    hard limit {nofile_hard()}; children get soft = min({WANT_NOFILE}, hard) or more")


# --------------------------------------------------------------------------------------------------------------
# Servers


class Nginx:
    def __init__(self, core: int | None) -> None:
        self.prefix = Path(tempfile.mkdtemp(prefix="loadgen-bench-nginx-"))
        self.port = free_port()
        self.h2_port = free_port()
        conf = (BENCH / "nginx.conf").read_text().replace("@PORT@", str(self.port)).replace("@H2PORT@", str(self.h2_port))
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(conf)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        cmd = [nginx, "-c", str(self.conf), "-p", f"{self.prefix}/", "-e", str(self.prefix / "error.log")]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.prefix / "stderr.log", "w"),
            preexec_fn=child_setup(core, WANT_NOFILE),
        )
        LIVE.append(self.proc)
        wait_for_port(self.port, self.proc, "nginx")
        self.url = f"http://127.0.0.1:{self.port}/"
        self.h2_url = f"http://127.0.0.1:{self.h2_port}/"  # h2c with prior knowledge
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        conn.request("GET", "/")
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        if resp.status != 200 or body != NGINX_BODY:
            die(f"nginx answered {resp.status} {body!r}, expected 200 {NGINX_BODY!r}")
        self.worker_pid = self._worker()

    def _worker(self) -> int | None:
        for _ in range(50):
            try:
                kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
                if kids:
                    return int(kids[0])
            except OSError:
                return None
            time.sleep(0.05)
        return None

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGTERM)
        errors = (self.prefix / "error.log").read_text(errors="replace") if (self.prefix / "error.log").exists() else ""
        important = [ln for ln in errors.splitlines() if re.search(r"\[(alert|crit|emerg|error)\]", ln)]
        if important:
            out("nginx error.log:")
            for ln in important[-10:]:
                out("  " + ln)
        shutil.rmtree(self.prefix, ignore_errors=True)


class Demo:
    """`loadgen serve-demo` as its own process, on a port the OS picks (read from its stdout)."""

    def __init__(self, core: int | None, latency: str = "0ms") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="loadgen-bench-demo-"))
        self.stdout_path = self.dir / "stdout.txt"
        cmd = [str(LOADGEN), "serve-demo", "--addr", "127.0.0.1:0", "--latency", latency]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=open(self.stdout_path, "w"),
            stderr=open(self.dir / "stderr.txt", "w"),
            preexec_fn=child_setup(core, WANT_NOFILE),
        )
        LIVE.append(self.proc)
        deadline = time.monotonic() + 10
        self.url = None
        while time.monotonic() < deadline and not self.url:
            if self.proc.poll() is not None:
                die(f"serve-demo exited at start (code {self.proc.returncode}): {(self.dir / 'stderr.txt').read_text()}")
            m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", self.stdout_path.read_text())
            if m:
                self.url = m.group(1)
            else:
                time.sleep(0.05)
        if not self.url:
            die("serve-demo printed no listening address within 10 s")
        self.latency = latency

    def stop(self) -> tuple[resource.struct_rusage | None, int | None]:
        """Stops it; returns its rusage (CPU) and its peak RSS in KiB, read from /proc while it still runs
        (VmHWM counts from its exec, unlike ru_maxrss: see run_measured)."""
        hwm = None
        try:
            m = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{self.proc.pid}/status").read_text(), re.M)
            hwm = int(m.group(1)) if m else None
        except OSError:
            pass
        ru = stop_process(self.proc, signal.SIGINT)  # serve-demo shuts down on SIGINT
        shutil.rmtree(self.dir, ignore_errors=True)
        return ru, hwm


# --------------------------------------------------------------------------------------------------------------
# What each tool reports


@dataclass
class Sample:
    """One measured run of one tool."""

    tool: str
    requests: int
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    m: Measured
    notes: list[str] = field(default_factory=list)

    @property
    def us_per_req(self) -> float | None:
        return self.m.cpu_s / self.requests * 1e6 if self.requests else None

    @property
    def cpu_pct(self) -> float:
        return 100 * self.m.cpu_s / self.m.wall_s if self.m.wall_s else 0.0

    @property
    def target_pct(self) -> float | None:
        return None if self.m.target_cpu_s is None else 100 * self.m.target_cpu_s / self.m.wall_s

    @property
    def other_pct(self) -> float | None:
        """CPU used by everything else on the machine during the run (other processes, interrupts), % of a core."""
        if self.m.busy_s is None:
            return None
        rest = self.m.busy_s - self.m.cpu_s - (self.m.target_cpu_s or 0.0)
        return max(0.0, 100 * rest / self.m.wall_s) if self.m.wall_s else None

    @property
    def rss_mib(self) -> float:
        return self.m.maxrss_kib / 1024


def wrk_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}[unit]


def parse_wrk(m: Measured) -> Sample:
    text = m.stdout
    req = re.search(r"^\s*(\d+) requests in ", text, re.M)
    rps = re.search(r"^Requests/sec:\s*([\d.]+)", text, re.M)
    if not req or not rps:
        raise ValueError(f"cannot read wrk's output:\n{text}")
    pct = {
        k: wrk_ms(v, u)
        for k, v, u in re.findall(r"^\s*(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    }
    errors = 0
    notes = []
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if sock:
        errors += sum(int(x) for x in sock.groups())
        notes.append(sock.group(0).strip())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        errors += int(non2xx.group(1))
        notes.append(non2xx.group(0))
    return Sample("wrk", int(req.group(1)), float(rps.group(1)), pct.get("50"), pct.get("99"), errors, m, notes)


def parse_oha(m: Measured) -> Sample:
    data = json.loads(m.stdout)
    summary = data["summary"]
    codes = data.get("statusCodeDistribution", {}) or {}
    errs = data.get("errorDistribution", {}) or {}
    answered = sum(int(v) for v in codes.values())
    failed = sum(int(v) for v in errs.values())
    non2xx = sum(int(v) for k, v in codes.items() if not str(k).startswith("2"))
    lat = data.get("latencyPercentiles", {}) or {}

    def ms(key: str) -> float | None:
        v = lat.get(key)
        return None if v is None else float(v) * 1e3  # oha reports seconds

    # Requests completed: every answer, plus the errors (what wrk and loadgen count too). oha's errors
    # include the requests cut off at the deadline ("aborted due to deadline"), which are not completed.
    cut = sum(int(v) for k, v in errs.items() if "deadline" in k.lower())
    notes = [f"{k}: {v}" for k, v in errs.items()]
    return Sample(
        "oha",
        answered + failed - cut,
        float(summary["requestsPerSec"]),
        ms("p50"),
        ms("p99"),
        failed - cut + non2xx,
        m,
        notes,
    )


def parse_loadgen(m: Measured, json_path: Path, label: str = "loadgen") -> tuple[Sample, dict]:
    data = json.loads(json_path.read_text())
    totals = data["totals"]
    pct = (data["aggregated"] or {}).get("percentiles_ms") or {}
    notes = [f"{f['kind']}: {f['message']} x{f['occurrences']}" for f in data.get("failures", [])]
    s = Sample(label, totals["requests"], totals["rps"], pct.get("p50"), pct.get("p99"), totals["failures"], m, notes)
    return s, data


# --------------------------------------------------------------------------------------------------------------
# Formatting


def fmt(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def med_range(values: list[float | None], digits: int) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "-"
    if len(vals) == 1:
        return fmt(vals[0], digits)
    return f"{fmt(statistics.median(vals), digits)} ({fmt(min(vals), digits)}–{fmt(max(vals), digits)})"


def table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    out(line(headers))
    out(line(["-" * w for w in widths]))
    for r in rows:
        out(line(r))


# --------------------------------------------------------------------------------------------------------------
# The runs


def compare_builds(samples: dict[str, list[Sample]]) -> None:
    """With more than one loadgen build: each other build against the glibc build ("loadgen"), median against
    median, and CPU per request round by round (the i-th run of each; rounds rotate the order)."""
    base = samples.get("loadgen", [])
    others = [label for label, _ in BUILDS[1:] if samples.get(label)]
    if not base or not others:
        return
    out()
    out("Builds against loadgen (glibc): ratio of the medians (CPU per request also round by round, and the "
        "medians of its user and sys parts), latency as a difference:")
    rows = []
    for label in [label for label, _ in BUILDS if samples.get(label)]:
        ss = samples[label]

        def med(get) -> float | None:
            vals = [v for v in (get(x) for x in ss) if v is not None]
            return statistics.median(vals) if vals else None

        def base_med(get) -> float | None:
            vals = [v for v in (get(x) for x in base) if v is not None]
            return statistics.median(vals) if vals else None

        def ratio(get) -> str:
            a, b = med(get), base_med(get)
            return f"x{a / b:.3f}" if a is not None and b else "-"

        def diff(get) -> str:
            a, b = med(get), base_med(get)
            return f"{a - b:+.3f}" if a is not None and b is not None else "-"

        per_round = [a.us_per_req / b.us_per_req for a, b in zip(ss, base) if a.us_per_req and b.us_per_req]
        rows.append([
            label,
            fmt(med(lambda x: x.us_per_req), 2),
            ratio(lambda x: x.us_per_req),
            ", ".join(f"x{r:.2f}" for r in per_round) or "-",
            fmt(med(lambda x: x.m.user_s / x.requests * 1e6 if x.requests else None), 2),
            fmt(med(lambda x: x.m.sys_s / x.requests * 1e6 if x.requests else None), 2),
            fmt(med(lambda x: x.rps)),
            ratio(lambda x: x.rps),
            fmt(med(lambda x: x.rss_mib), 1),
            ratio(lambda x: x.rss_mib),
            fmt(med(lambda x: x.p50_ms), 3),
            diff(lambda x: x.p50_ms),
            fmt(med(lambda x: x.p99_ms), 3),
            diff(lambda x: x.p99_ms),
        ])
    table(["build", "CPU µs/req", "ratio", "per round", "user", "sys", "req/s", "ratio", "peak RSS MiB", "ratio", "p50 ms", "Δ ms",
           "p99 ms", "Δ ms"], rows)


def closed_loop(args, cores, oha: str | None, raw: Path, all_cores: bool = False) -> bool:
    """wrk, oha and the loadgen builds in turn; with all_cores, the loadgen builds alone, on every core."""
    tgt_core, tool_core = cores
    secs = args.duration
    paths = dict(BUILDS)
    tools = list(paths) if all_cores else (["wrk", "oha"] if oha else ["wrk"]) + list(paths)
    tag = "allcores-" if all_cores else ""
    out()
    out(f"== Closed loop{ALL_CORES_TITLE if all_cores else ''}: {CLOSED_USERS} connections/users, no wait, GET / on nginx; "
        f"{args.rounds} round(s) x {secs} s per tool, rotating order ==")
    if not oha and not all_cores:
        out("   (oha skipped: --skip-oha, or it could not be installed: see above)")
    nginx = Nginx(tgt_core)
    ok = True
    samples: dict[str, list[Sample]] = {t: [] for t in tools}
    width = max(8, *(len(t) for t in tools))
    try:
        out(f"nginx {nginx.url} (worker pid {nginx.worker_pid})")
        if args.warmup > 0:
            w = run_measured(["wrk", "-t1", f"-c{CLOSED_USERS}", f"-d{args.warmup}s", nginx.url], tool_core, args.warmup + 30)
            out(f"warm-up: wrk {args.warmup} s, exit {w.rc}")
        for rnd in range(args.rounds):
            order = tools[rnd % len(tools):] + tools[: rnd % len(tools)]
            out(f"round {rnd + 1}/{args.rounds}: {' -> '.join(order)}")
            for tool in order:
                time.sleep(1)  # let the previous tool's connections close
                name = f"{tag}closed-r{rnd + 1}-{tool}"
                if tool == "wrk":
                    cmd = ["wrk", "-t1", f"-c{CLOSED_USERS}", f"-d{secs}s", "--latency", nginx.url]
                elif tool == "oha":
                    # --worker-threads 1: oha's default is one runtime thread per physical core of the machine,
                    # not of its affinity mask; wrk runs -t1 and loadgen's runtime sees one core.
                    cmd = [oha, "-z", f"{secs}s", "-c", str(CLOSED_USERS), "--worker-threads", "1", "--no-tui",
                           "--output-format", "json", nginx.url]
                else:
                    js = raw / f"{name}.json"
                    cmd = [str(paths[tool]), "run", str(SCEN / "nginx_closed.toml"), "--host", nginx.url.rstrip("/"),
                           "-t", f"{secs}s", "-q", "--json", str(js)]
                m = run_measured(cmd, tool_core, secs * 2 + 30, WANT_NOFILE, nginx.worker_pid, raw, name)
                if m.rc != 0 or m.timed_out:
                    out(f"  {tool}: FAILED: " + m.explain_failure())
                    ok = False
                    continue
                try:
                    if tool == "wrk":
                        s = parse_wrk(m)
                    elif tool == "oha":
                        s = parse_oha(m)
                        (raw / f"{name}.json").write_text(m.stdout)
                    else:
                        s, _ = parse_loadgen(m, js, tool)
                except (ValueError, KeyError, OSError) as e:
                    out(f"  {tool}: cannot read its results: {e}")
                    ok = False
                    continue
                samples[tool].append(s)
                out(f"  {tool:{width}} {fmt(s.rps)} req/s, {fmt(s.us_per_req, 2)} µs CPU/req "
                    f"({fmt(s.m.cpu_s, 2)} s CPU = {fmt(s.m.user_s, 2)} user + {fmt(s.m.sys_s, 2)} sys, "
                    f"{fmt(s.cpu_pct)}% of a core), p50 {fmt(s.p50_ms, 3)} ms, p99 {fmt(s.p99_ms, 3)} ms, "
                    f"peak RSS {fmt(s.rss_mib, 1)} MiB, errors {s.errors}, nginx {fmt(s.target_pct)}% of a core, "
                    f"everything else {fmt(s.other_pct)}%")
                if s.errors:
                    out(f"           errors: {'; '.join(s.notes)}")
    finally:
        nginx.stop()

    out()
    out(f"Closed loop, median over {args.rounds} round(s) (min–max):")
    rows = []
    for tool in tools:
        ss = samples[tool]
        if not ss:
            rows.append([tool] + ["-"] * 9)
            continue
        rows.append([
            tool,
            med_range([s.rps for s in ss], 0),
            med_range([s.us_per_req for s in ss], 2),
            med_range([s.cpu_pct for s in ss], 0),
            med_range([s.p50_ms for s in ss], 3),
            med_range([s.p99_ms for s in ss], 3),
            med_range([s.rss_mib for s in ss], 1),
            str(sum(s.errors for s in ss)),
            med_range([s.target_pct for s in ss], 0),
            med_range([s.other_pct for s in ss], 0),
        ])
    table(["tool", "req/s", "CPU µs/req", "tool CPU %", "p50 ms", "p99 ms", "peak RSS MiB", "errors", "nginx CPU %",
           "other CPU %"], rows)
    out()
    lg = samples.get("loadgen", [])
    for other in [t for t in tools if t in ("wrk", "oha")]:
        os_ = samples.get(other, [])
        if not lg or not os_:
            out(f"loadgen/{other} CPU per request: -")
            continue
        ratio = statistics.median(s.us_per_req for s in lg) / statistics.median(s.us_per_req for s in os_)
        per_round = [
            a.us_per_req / b.us_per_req
            for a, b in zip(lg, os_)
        ]
        rps_ratio = statistics.median(s.rps for s in lg) / statistics.median(s.rps for s in os_)
        out(f"loadgen/{other}: CPU per request x{ratio:.2f} (per round: {', '.join(f'x{r:.2f}' for r in per_round)}); "
            f"requests/s x{rps_ratio:.2f}")
    compare_builds(samples)
    out("(CPU µs/req = the tool's user+sys CPU time from wait4 / requests it completed; tool CPU % = that CPU time / "
        "its wall time; nginx CPU % = nginx worker CPU during the run, from /proc; other CPU % = the rest of the machine's busy time, from "
        "/proc/stat: other processes and interrupts, the noise of a shared machine)")
    return ok


def parse_h2load(m: Measured) -> Sample:
    text = m.stdout
    req = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored",
                    text, re.M)
    rps = re.search(r"^finished in [\d.]+\w*, ([\d.]+) req/s", text, re.M)
    if not req or not rps:
        raise ValueError("no request count or rate in h2load's output")
    done, ok, failed, errored = (int(req.group(i)) for i in (3, 4, 5, 6))
    return Sample("h2load", done, float(rps.group(1)), None, None, failed + errored + (done - ok - failed), m)


H2_SHAPES = [
    # (label, connections, streams per connection, loadgen scenario)
    ("64 streams on 1 connection", 1, CLOSED_USERS, "nginx_h2_one_connection.toml"),
    ("64 connections, 1 stream each", CLOSED_USERS, 1, "nginx_h2_connections.toml"),
]


def http2_run(args, cores, raw: Path) -> bool:
    """HTTP/2 (h2c) against nginx: h2load and loadgen in turn, 64 requests in flight, as 64 streams on one
    connection and as 64 connections; CPU per request is the figure (issue 17, item 6)."""
    tgt_core, tool_core = cores
    secs = args.duration
    out()
    out(f"== HTTP/2 (h2c, prior knowledge): GET / on nginx, {CLOSED_USERS} requests in flight; "
        f"{args.rounds} round(s) x {secs} s per tool and shape, alternating order ==")
    if not shutil.which("h2load"):
        out("h2load is not installed (Debian package nghttp2-client): skipped")
        return False
    nginx = Nginx(tgt_core)
    ok = True
    samples: dict[tuple[str, str], list[Sample]] = {}
    try:
        out(f"nginx {nginx.h2_url} (worker pid {nginx.worker_pid})")
        for label, conns, streams, scen in H2_SHAPES:
            out(f"-- {label}")
            tools = ["h2load", "loadgen"]
            for rnd in range(args.rounds):
                order = tools if rnd % 2 == 0 else tools[::-1]
                for tool in order:
                    time.sleep(1)
                    name = f"h2-{conns}c-r{rnd + 1}-{tool}"
                    if tool == "h2load":
                        cmd = ["h2load", "-t1", f"-c{conns}", f"-m{streams}", f"-D{secs}", nginx.h2_url]
                    else:
                        js = raw / f"{name}.json"
                        cmd = [str(LOADGEN), "run", str(SCEN / scen), "--host", nginx.h2_url.rstrip("/"),
                               "-t", f"{secs}s", "-q", "--json", str(js)]
                    m = run_measured(cmd, tool_core, secs * 2 + 30, WANT_NOFILE, nginx.worker_pid, raw, name)
                    if m.rc != 0 or m.timed_out:
                        out(f"  {tool}: FAILED: " + m.explain_failure())
                        ok = False
                        continue
                    try:
                        s = parse_h2load(m) if tool == "h2load" else parse_loadgen(m, js, tool)[0]
                    except (ValueError, KeyError, OSError) as e:
                        out(f"  {tool}: cannot read its results: {e}")
                        ok = False
                        continue
                    samples.setdefault((label, tool), []).append(s)
                    out(f"  {tool:8} {fmt(s.rps)} req/s, {fmt(s.us_per_req, 2)} µs CPU/req "
                        f"({fmt(s.m.user_s, 2)} user + {fmt(s.m.sys_s, 2)} sys, {fmt(s.cpu_pct)}% of a core), "
                        f"peak RSS {fmt(s.rss_mib, 1)} MiB, errors {s.errors}, nginx {fmt(s.target_pct)}% of a core, "
                        f"everything else {fmt(s.other_pct)}%")
    finally:
        nginx.stop()
    out()
    out(f"HTTP/2, median over {args.rounds} round(s) (min–max):")
    rows = []
    for label, conns, streams, _ in H2_SHAPES:
        for tool in ("h2load", "loadgen"):
            ss = samples.get((label, tool), [])
            if not ss:
                rows.append([f"{tool}, {label}"] + ["-"] * 6)
                continue
            rows.append([f"{tool}, {label}",
                         med_range([s.rps for s in ss], 0),
                         med_range([s.us_per_req for s in ss], 2),
                         med_range([s.cpu_pct for s in ss], 0),
                         med_range([s.rss_mib for s in ss], 1),
                         str(sum(s.errors for s in ss)),
                         med_range([s.target_pct for s in ss], 0)])
    table(["tool, shape", "req/s", "CPU µs/req", "tool CPU %", "peak RSS MiB", "errors", "nginx CPU %"], rows)
    for label, _, _, _ in H2_SHAPES:
        lg, h2 = samples.get((label, "loadgen"), []), samples.get((label, "h2load"), [])
        if lg and h2:
            ratio = statistics.median(s.us_per_req for s in lg) / statistics.median(s.us_per_req for s in h2)
            out(f"loadgen/h2load CPU per request, {label}: x{ratio:.2f}")
    out("(h2load -t1 -cC -mS -D SECS: C connections, S streams each, one thread; loadgen: 64 users, http = \"2\", "
        "http2_connections = C, one worker thread on its core)")
    return ok


def series_steady(series: list[dict], users: int, planned_s: float, settle_s: float = 2.0) -> tuple[list[dict], float | None]:
    """The points from settle_s after all users run to the planned end; returns them and the time all ran."""
    t_full = next((p["elapsed_s"] for p in series if p["users"] >= users), None)
    if t_full is None:
        return [], None
    steady = [
        p for p in series
        if p["elapsed_s"] >= t_full + settle_s + 1.0 and p["elapsed_s"] <= planned_s + 0.05 and p["users"] >= users
    ]
    return steady, t_full


def rate_over(series: list[dict], points: list[dict]) -> float | None:
    """requests / time over consecutive series points (each interval ends at its elapsed_s)."""
    if not points:
        return None
    idx = series.index(points[0])
    start = series[idx - 1]["elapsed_s"] if idx > 0 else 0.0
    span = points[-1]["elapsed_s"] - start
    return sum(p["requests"] for p in points) / span if span > 0 else None


def report_failures(data: dict) -> None:
    t = data["totals"]
    extra = "".join(f", {k.replace('_', ' ')} {t[k]:,}" for k in ("aborted_users", "unstarted_users") if k in t)
    out(f"failures      {t['failures']:,} of {t['requests']:,} requests{extra}")
    for f in data.get("failures", [])[:10]:
        out(f"                {f['name']}: {f['kind']}: {f['message']} x{f['occurrences']:,}")


def scale_run(args, cores, raw: Path, all_cores: bool = False) -> bool:
    tgt_core, tool_core = cores
    tag = "allcores-" if all_cores else ""
    secs = args.scale_duration
    scen = SCEN / "nginx_10k.toml"
    users, rate, wait_s = 10_000, 1000.0, 1.0
    rounds = args.scale_rounds
    labels = [label for label, _ in BUILDS]
    out()
    out(f"== Scale{ALL_CORES_TITLE if all_cores else ''}: {users:,} users at {rate:,.0f}/s, wait 1 s, GET / on nginx, {secs} s"
        + (f"; {rounds} round(s) x {', '.join(labels)}, rotating order" if rounds > 1 or len(labels) > 1 else "")
        + " ==")
    if nofile_hard() < users + 100:
        out(f"warning: the open-files hard limit is {nofile_hard()}, below {users + 100}: expect connect failures")
    ok = True
    samples: dict[str, list[Sample]] = {label: [] for label in labels}
    steady_rates: dict[str, list[float | None]] = {label: [] for label in labels}
    for rnd in range(rounds):
        order = BUILDS[rnd % len(BUILDS):] + BUILDS[: rnd % len(BUILDS)]
        for label, path in order:
            # One nginx per run: 10,000 connections closing leave it (and the loopback) to settle otherwise.
            name = tag + ("scale" if rounds == 1 and len(labels) == 1 else f"scale-r{rnd + 1}-{label}")
            if rounds > 1 or len(labels) > 1:
                out()
                out(f"-- round {rnd + 1}/{rounds}: {label} --")
            nginx = Nginx(tgt_core)
            try:
                js = raw / f"{name}.json"
                cmd = [str(path), "run", str(scen), "--host", nginx.url.rstrip("/"), "-t", f"{secs}s", "-q", "--json", str(js)]
                m = run_measured(cmd, tool_core, secs + 60, WANT_NOFILE, nginx.worker_pid, raw, name)
            finally:
                nginx.stop()
            if m.timed_out or m.rc != 0 or not js.exists():
                out(f"{label} FAILED: " + m.explain_failure())
                ok = False
                continue
            s, data = parse_loadgen(m, js, label)
            samples[label].append(s)
            steady_rates[label].append(scale_report(s, data, users, rate, wait_s, secs))
            time.sleep(1)
    if rounds > 1 or len(labels) > 1:
        out()
        out(f"Scale, median over {rounds} round(s) (min–max):")
        rows = []
        for label in labels:
            ss = samples[label]
            if not ss:
                rows.append([label] + ["-"] * 8)
                continue
            rows.append([
                label,
                med_range(steady_rates[label], 0),
                med_range([x.us_per_req for x in ss], 2),
                med_range([x.cpu_pct for x in ss], 0),
                med_range([x.p50_ms for x in ss], 3),
                med_range([x.p99_ms for x in ss], 3),
                med_range([x.rss_mib for x in ss], 1),
                str(sum(x.errors for x in ss)),
                med_range([x.other_pct for x in ss], 0),
            ])
        table(["build", "steady req/s", "CPU µs/req", "CPU %", "p50 ms", "p99 ms", "peak RSS MiB", "failures",
               "other CPU %"], rows)
        compare_builds(samples)
    return ok


def scale_report(s: Sample, data: dict, users: int, rate: float, wait_s: float, secs: int) -> float | None:
    """Prints one scale run's figures; returns its steady requests/s (None if the users never all ran)."""
    series = data["time_series"]
    steady, t_full = series_steady(series, users, secs)
    expected = users / wait_s
    achieved = rate_over(series, steady)
    at5 = min(series, key=lambda p: abs(p["elapsed_s"] - 5.0)) if series else None
    want5 = min(users, rate * (at5["elapsed_s"] if at5 else 5.0))
    out(f"requests      {s.requests:,} in {data['duration_s']:.1f} s ({fmt(s.rps)} req/s over the whole run, ramp included)")
    if achieved is not None:
        out(f"steady rate   {fmt(achieved)} req/s from {steady[0]['elapsed_s'] - 1:.0f} s to {steady[-1]['elapsed_s']:.0f} s "
            f"= x{achieved / expected:.3f} of the expected {fmt(expected)}/s (users / 1 s wait)")
    else:
        out(f"steady rate   -: users never reached {users:,} (peak {data['totals']['peak_users']:,})")
    if t_full is not None:
        out(f"ramp-up       all {users:,} users running at {t_full:.1f} s (expected {users / rate:.1f} s)")
    if at5:
        ok5 = abs(at5["users"] - want5) <= 0.1 * want5
        out(f"spawn check   {at5['users']:,} users at {at5['elapsed_s']:.1f} s, expected ≈{want5:,.0f}: {'OK' if ok5 else 'OFF by more than 10%'}")
    out(f"latency       p50 {fmt(s.p50_ms, 3)} ms, p99 {fmt(s.p99_ms, 3)} ms")
    out(f"loadgen CPU   {s.m.cpu_s:.1f} s ({fmt(s.cpu_pct)}% of a core over {s.m.wall_s:.1f} s), {fmt(s.us_per_req, 2)} µs/req; "
        f"nginx {fmt(s.target_pct)}% of a core; everything else {fmt(s.other_pct)}% of a core")
    out(f"peak RSS      {s.rss_mib:,.1f} MiB = {s.m.maxrss_kib / users:.1f} KiB per user (peak users {data['totals']['peak_users']:,})")
    report_failures(data)
    return achieved


def build_name(name: str, label: str) -> str:
    """A raw output's name: as before with the glibc build alone, with the build's label when there are more."""
    return name if len(BUILDS) == 1 else f"{name}-{label}"


def ultimate_run(args, cores, raw: Path, all_cores: bool = False) -> bool:
    tgt_core, tool_core = cores
    secs = args.ultimate_duration
    users = 10_000
    out()
    out(f"== Reference API{ALL_CORES_TITLE if all_cores else ''}: scenarios/ultimate.toml ({users:,} users, -r 1000, register/login/verify/refresh/...) "
        f"against `loadgen serve-demo`, {secs} s ==")
    ok = True
    samples: dict[str, list[Sample]] = {}
    for label, path in BUILDS:
        if len(BUILDS) > 1:
            out()
            out(f"-- {label} (serve-demo: the glibc build, started afresh) --")
        demo = Demo(tgt_core)
        server_ru, server_hwm = None, None
        name = ("allcores-" if all_cores else "") + build_name("ultimate", label)
        try:
            out(f"serve-demo {demo.url} (pid {demo.proc.pid})")
            js = raw / f"{name}.json"
            cmd = [str(path), "run", str(REPO / "scenarios" / "ultimate.toml"), "--host", demo.url,
                   "-t", f"{secs}s", "-r", "1000", "-q", "--json", str(js)]
            m = run_measured(cmd, tool_core, secs + 90, WANT_NOFILE, demo.proc.pid, raw, name)
        finally:
            server_ru, server_hwm = demo.stop()
        # exit 1 = a gate failed: still a complete run, reported below
        if m.timed_out or m.rc not in (0, 1) or not js.exists():
            out(f"{label} FAILED: " + m.explain_failure())
            ok = False
            continue
        s, data = parse_loadgen(m, js, label)
        samples[label] = [s]
        series = data["time_series"]
        steady, _ = series_steady(series, users, secs)
        out(f"requests      {s.requests:,} in {data['duration_s']:.1f} s = {fmt(s.rps)} req/s (whole run, ramp included); "
            f"steady part {fmt(rate_over(series, steady))} req/s")
        out(f"latency       p50 {fmt(s.p50_ms, 3)} ms, p99 {fmt(s.p99_ms, 3)} ms")
        report_failures(data)
        gates = data["gates"]
        out(f"gates         {'passed' if gates['passed'] else 'FAILED'} (exit {m.rc}): " + ", ".join(
            f"{g['metric']} {fmt(g['measured'], 3)} {g['op']} {g['threshold']:g}{'' if g['passed'] else ' FAIL'}" for g in gates["results"]))
        out(f"loadgen CPU   {s.m.cpu_s:.1f} s ({fmt(s.cpu_pct)}% of a core), {fmt(s.us_per_req, 2)} µs/req; "
            f"serve-demo {fmt(s.target_pct)}% of a core"
            + (f" ({server_ru.ru_utime + server_ru.ru_stime:.1f} s CPU in all" if server_ru else " (")
            + (f", peak RSS {server_hwm / 1024:,.0f} MiB)" if server_hwm else ")")
            + f"; everything else {fmt(s.other_pct)}% of a core")
        out(f"peak RSS      {s.rss_mib:,.1f} MiB = {s.m.maxrss_kib / users:.1f} KiB per user (peak users {data['totals']['peak_users']:,})")
    compare_builds(samples)
    return ok


def language_run(args, cores, raw: Path) -> bool:
    """Issue 18 item 9: the CPU per request of a flow using checks, a regex capture and for_each
    (benches/scenarios/language.toml), beside the auth flow (scenarios/stress.toml) at the same users and wait, each
    against a fresh serve-demo, for the first build (the scenario's keys are new: older builds cannot read it)."""
    tgt_core, tool_core = cores
    secs = args.language_duration
    label, path = BUILDS[0]
    out()
    out(f"== Scenario language: 1,000 users, checks + regex capture + for_each vs the auth flow, {secs} s each ({label}) ==")
    ok = True
    got: dict[str, Sample] = {}
    for name, scen in [("auth flow (stress.toml)", REPO / "scenarios" / "stress.toml"),
                       ("language flow (benches/scenarios/language.toml)", SCEN / "language.toml")]:
        demo = Demo(tgt_core)
        tag = "language-" + ("auth" if "stress" in scen.name else "flow")
        try:
            js = raw / f"{tag}.json"
            cmd = [str(path), "run", str(scen), "--host", demo.url, "-u", "1000", "-r", "1000",
                   "-t", f"{secs}s", "-q", "--json", str(js)]
            m = run_measured(cmd, tool_core, secs + 60, WANT_NOFILE, demo.proc.pid, raw, tag)
        finally:
            demo.stop()
        if m.timed_out or m.rc not in (0, 1) or not js.exists():
            out(f"{name} FAILED: " + m.explain_failure())
            ok = False
            continue
        s, data = parse_loadgen(m, js, label)
        got[name] = s
        out(f"{name:<48} {s.requests:>9,} requests, {fmt(s.rps)} req/s, p50 {fmt(s.p50_ms, 3)} ms, "
            f"loadgen {fmt(s.us_per_req, 2)} µs/req ({fmt(s.cpu_pct)}% of a core), failures {data['totals']['failures']:,}")
        report_failures(data)
    if len(got) == 2:
        a, b = got.values()
        if a.us_per_req and b.us_per_req:
            out(f"language flow / auth flow CPU per request: x{b.us_per_req / a.us_per_req:.2f}")
    return ok


class PageReader:
    """One live page open on `loadgen run --ui`: a client of its event stream (what the browser's EventSource
    does), reading every event until the stream ends. It connects as soon as the port answers."""

    def __init__(self, port: int, sample_at_s: float) -> None:
        self.port, self.events, self.bytes = port, 0, 0
        self.sample_at_s = sample_at_s
        # CPU seconds of loadgen's threads by name, sampled while it runs: the UI's own thread
        # (`loadgen-live-ui`) is its cost, measured apart from the noise of the whole process.
        self.threads: dict[str, float] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()

    def _sample(self) -> None:
        # Once, near the end of the run (its threads end with it): reading /proc more often would itself be load
        # that only the runs with the UI get.
        if self.stopped.wait(self.sample_at_s):
            return
        needle = f"127.0.0.1:{self.port}".encode()
        tick = os.sysconf("SC_CLK_TCK")
        pid = None
        for d in os.listdir("/proc"):
            try:
                # loadgen itself, not GNU time (whose command line holds the same address) around it.
                if d.isdigit() and Path(f"/proc/{d}/comm").read_text().strip() == "loadgen" \
                        and needle in Path(f"/proc/{d}/cmdline").read_bytes():
                    pid = d
                    break
            except OSError:
                continue
        if pid is None:
            return
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                st = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
                name = st[st.index("(") + 1:st.rindex(")")]
                f = st[st.rindex(")") + 2:].split()
                self.threads[name] = self.threads.get(name, 0.0) + (int(f[11]) + int(f[12])) / tick
        except OSError:
            pass  # the process or a thread ended between the listing and the read

    def _read(self) -> None:
        deadline = time.monotonic() + 60
        while not self.stopped.is_set() and time.monotonic() < deadline:
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                break
            except OSError:
                time.sleep(0.05)
        else:
            return
        sock.settimeout(30)
        sock.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode())
        try:
            while not self.stopped.is_set():
                chunk = sock.recv(65536)
                if not chunk:
                    break
                self.bytes += len(chunk)
                self.events += chunk.count(b"\nevent: ") + chunk.startswith(b"event: ")
        except OSError:
            pass
        finally:
            sock.close()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.sampler.join(timeout=5)


def timewait_sockets() -> int | None:
    """TCP sockets in TIME_WAIT on this machine (the `ss -s` summary), None when unknown."""
    try:
        text = subprocess.run(["ss", "-s"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"timewait (\d+)", text)
    return int(m.group(1)) if m else None


def wait_for_timewait(limit: int = 2000, max_s: float = 75.0) -> None:
    """Waits (bounded) until the previous runs' closed connections have left TIME_WAIT: 10,000 users leave 10,000
    of them for 60 s, and with most of the ephemeral ports held the kernel's search for a free one costs the next
    run CPU at every connect, which made runs slower one after another and drowned a 2 % difference."""
    deadline = time.monotonic() + max_s
    n = timewait_sockets()
    while n is not None and n > limit and time.monotonic() < deadline:
        time.sleep(1)
        n = timewait_sockets()


def ui_run(args, cores, raw: Path) -> bool:
    """Issue 19 item 6: the CPU cost of the live UI with one page open, at 10,000 users (scenarios/ultimate.toml
    against serve-demo): runs without and with `--ui` alternate, and loadgen's CPU per request is compared."""
    tgt_core, tool_core = cores
    secs = args.ui_duration
    label, path = BUILDS[0]
    users = 10_000
    out()
    out(f"== Live UI cost: scenarios/ultimate.toml ({users:,} users, -r 1000) against serve-demo, {secs} s per run, "
        f"without and with `--ui` and one page reading its event stream, {args.ui_rounds} rounds ({label}) ==")
    ok = True
    got: dict[str, list[Sample]] = {"without --ui": [], "with --ui, one page open": []}
    ui_thread_pct: list[float] = []
    for rnd in range(args.ui_rounds):
        # ABBA: every other round runs the UI first, so a drift of the machine over the runs cancels out.
        for mode in (list(got) if rnd % 2 == 0 else list(got)[::-1]):
            wait_for_timewait()
            demo = Demo(tgt_core)
            tag = f"ui-{'on' if 'with --ui' in mode else 'off'}-{rnd + 1}"
            page = None
            try:
                js = raw / f"{tag}.json"
                cmd = [str(path), "run", str(REPO / "scenarios" / "ultimate.toml"), "--host", demo.url,
                       "-t", f"{secs}s", "-r", "1000", "-q", "--json", str(js)]
                if "with --ui" in mode:
                    port = free_port()
                    cmd += ["--ui", f"127.0.0.1:{port}", "--ui-linger", "0s"]
                    page = PageReader(port, sample_at_s=max(secs - 3, 1))
                m = run_measured(cmd, tool_core, secs + 90, WANT_NOFILE, demo.proc.pid, raw, tag)
            finally:
                demo.stop()
                if page:
                    page.stop()
            # Exit 3 (INVALID: loadgen's CPU or lag said the machine was too busy) is still a whole run to weigh.
            if m.timed_out or m.rc not in (0, 1, 3) or not js.exists():
                out(f"{tag} FAILED: " + m.explain_failure())
                ok = False
                continue
            s, data = parse_loadgen(m, js, label)
            got[mode].append(s)
            seen = ""
            if page:
                ui_cpu = page.threads.get("loadgen-live-ui", 0.0)
                ui_thread_pct.append(100 * ui_cpu / max(s.m.cpu_s, 1e-9))
                seen = (f", the page got {page.events} events ({page.bytes / 1024:,.0f} KiB); the UI's thread "
                        f"{ui_cpu:.2f} s CPU = {100 * ui_cpu / max(s.m.cpu_s, 1e-9):.2f} % of loadgen's")
            if m.rc == 3:
                seen += " [INVALID run: the machine was busy]"
            if page and page.events < secs:
                out(f"{tag}: the page got only {page.events} events in {secs} s")
                ok = False
            out(f"round {rnd + 1} {mode:<26} {s.requests:>10,} requests, {fmt(s.rps)} req/s, loadgen "
                f"{s.m.cpu_s:.1f} s CPU (user {s.m.user_s:.1f} s, sys {s.m.sys_s:.1f} s) = {fmt(s.us_per_req, 2)} µs/req, "
                f"user {1e6 * s.m.user_s / max(s.requests, 1):.2f} µs/req, peak RSS {s.rss_mib:,.1f} MiB{seen}")
    pairs = list(zip(got["without --ui"], got["with --ui, one page open"]))
    paired = None
    for what, per_req in [("CPU", lambda x: x.us_per_req),
                          ("user CPU (the UI's work is all in user space)", lambda x: x.m.user_s / max(x.requests, 1))]:
        ratios = sorted(per_req(b) / per_req(a) for a, b in pairs if per_req(a) and per_req(b))
        if ratios:
            out(f"{what} per request, with / without, per round: " + ", ".join(f"x{r:.3f}" for r in ratios)
                + f"; median x{statistics.median(ratios):.3f}")
            paired = paired or statistics.median(ratios)
    if paired:
        # Paired by round (the two runs of a round are next to each other, in turn first), so the machine's drift
        # cancels; the spread of the rounds' ratios is the resolution of this comparison.
        out(f"the live UI's cost: {100 * (paired - 1):+.1f} % CPU per request (median of the rounds' ratios; the "
            f"bound is +2 %); its own thread: at most {max(ui_thread_pct, default=0.0):.2f} % of loadgen's CPU")
    return ok


def latency_run(args, cores, raw: Path) -> bool:
    tgt_core, tool_core = cores
    secs, ref_secs = args.latency_duration, args.latency_ref_duration
    scen = SCEN / "latency_2k.toml"
    out()
    out(f"== Latency trust: 2,000 users, GET /health, wait 100 ms, against `serve-demo --latency 20ms`, {secs} s ==")

    def one(path: Path, label: str, demo: Demo, name: str, extra: list[str], limit: float) -> tuple[Sample, dict] | None:
        name = build_name(name, label)
        js = raw / f"{name}.json"
        cmd = [str(path), "run", str(scen), "--host", demo.url, "-q", "--json", str(js), *extra]
        m = run_measured(cmd, tool_core, limit, WANT_NOFILE, demo.proc.pid, raw, name)
        if m.timed_out or m.rc != 0 or not js.exists():
            out(f"{name}: {label} FAILED: " + m.explain_failure())
            return None
        return parse_loadgen(m, js, label)

    # Each build measures its own round trip, unloaded and loaded latency, against the same two servers.
    single = ["-u", "1", "-r", "1", "-t", f"{ref_secs}s"]
    rtts: dict[str, tuple[Sample, dict] | None] = {}
    demo = Demo(tgt_core, "0ms")
    try:
        for label, path in BUILDS:
            rtts[label] = one(path, label, demo, "latency-rtt", single, ref_secs + 40)
    finally:
        demo.stop()
    runs: dict[str, tuple[tuple[Sample, dict] | None, tuple[Sample, dict] | None]] = {}
    demo = Demo(tgt_core, "20ms")
    try:
        for label, path in BUILDS:
            unloaded = one(path, label, demo, "latency-1user", single, ref_secs + 40)
            time.sleep(1)
            loaded = one(path, label, demo, "latency-2k", ["-t", f"{secs}s"], secs + 60)
            time.sleep(1)
            runs[label] = (unloaded, loaded)
    finally:
        demo.stop()
    ok = True
    summary = []
    for label, _ in BUILDS:
        rtt, (unloaded, loaded) = rtts[label], runs[label]
        if not (rtt and unloaded and loaded):
            ok = False
            continue
        (r, _), (u, _), (l, ldata) = rtt, unloaded, loaded
        if len(BUILDS) > 1:
            out()
            out(f"-- {label} --")
        true50 = 20.0 + r.p50_ms
        true99 = 20.0 + r.p99_ms
        rows = [
            ["loopback round trip: 1 user, serve-demo --latency 0ms", fmt(r.p50_ms, 3), fmt(r.p99_ms, 3), str(r.requests), fmt(r.rps)],
            ["true value = 20 ms + round trip", fmt(true50, 3), fmt(true99, 3), "", ""],
            ["1 user, serve-demo --latency 20ms (unloaded)", fmt(u.p50_ms, 3), fmt(u.p99_ms, 3), str(u.requests), fmt(u.rps)],
            ["2,000 users, serve-demo --latency 20ms (loaded)", fmt(l.p50_ms, 3), fmt(l.p99_ms, 3), f"{l.requests:,}", fmt(l.rps)],
        ]
        table(["run", "p50 ms", "p99 ms", "requests", "req/s"], rows)
        out(f"loaded − true:     p50 {l.p50_ms - true50:+.3f} ms, p99 {l.p99_ms - true99:+.3f} ms")
        out(f"loaded − unloaded: p50 {l.p50_ms - u.p50_ms:+.3f} ms, p99 {l.p99_ms - u.p99_ms:+.3f} ms")
        expected_rps = 2000 / (0.1 + true50 / 1e3)
        steady, _ = series_steady(ldata["time_series"], 2000, secs)
        out(f"loaded run: steady {fmt(rate_over(ldata['time_series'], steady))} req/s (expected ≈{fmt(expected_rps)} = 2,000 / "
            f"(100 ms + {true50:.1f} ms)); loadgen {fmt(l.cpu_pct)}% of a core, serve-demo {fmt(l.target_pct)}% of a core, "
            f"everything else {fmt(l.other_pct)}%; "
            f"peak RSS {l.rss_mib:,.1f} MiB")
        report_failures(ldata)
        summary.append([label, fmt(r.p50_ms, 3), fmt(u.p50_ms, 3), fmt(l.p50_ms, 3), f"{l.p50_ms - u.p50_ms:+.3f}",
                        fmt(u.p99_ms, 3), fmt(l.p99_ms, 3), f"{l.p99_ms - u.p99_ms:+.3f}", fmt(l.us_per_req, 2),
                        fmt(l.rss_mib, 1)])
    if len(BUILDS) > 1 and summary:
        out()
        out("Latency by build (ms; loaded = 2,000 users; Δ = loaded − unloaded, the latency loadgen adds under load):")
        table(["build", "rtt p50", "unloaded p50", "loaded p50", "Δ p50", "unloaded p99", "loaded p99", "Δ p99",
               "loaded CPU µs/req", "loaded RSS MiB"], summary)
    return ok


# --------------------------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(
        description="Reproducible benchmark of loadgen: CPU per request against wrk and oha on a pinned nginx, "
        "10,000 users, the reference API, latency trust. Default: the closed-loop comparison only.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--rounds", type=int, default=3, help="closed loop: rounds (each runs every tool once)")
    ap.add_argument("--duration", type=int, default=10, help="closed loop: seconds per tool run")
    ap.add_argument("--warmup", type=int, default=2, help="closed loop: seconds of unmeasured wrk load first (0: none)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 round, 3 s runs (and shorter scale/ultimate/latency runs)")
    ap.add_argument("--no-closed", action="store_true", help="skip the closed-loop comparison")
    ap.add_argument("--scale", action="store_true", help="also the 10,000-user run against nginx")
    ap.add_argument("--ultimate", action="store_true", help="also scenarios/ultimate.toml against serve-demo")
    ap.add_argument("--latency", action="store_true", help="also the latency-trust run against serve-demo --latency 20ms")
    ap.add_argument("--language", action="store_true",
                    help="also the scenario-language flow (checks, regex capture, for_each) vs the auth flow, 1,000 users each")
    ap.add_argument("--language-duration", type=int, default=30, help="seconds of each scenario-language run")
    ap.add_argument("--ui", action="store_true",
                    help="also the live UI's cost: 10,000 users without and with --ui and one page open")
    ap.add_argument("--ui-duration", type=int, default=40, help="seconds of each live UI run")
    ap.add_argument("--ui-rounds", type=int, default=4, help="live UI: rounds (each runs without and with --ui, "
                    "in turn first; each run waits for the previous one's connections to leave TIME_WAIT)")
    ap.add_argument("--http2", action="store_true",
                    help="also HTTP/2 (h2c) against nginx: loadgen and h2load, 64 streams on one connection and on 64")
    ap.add_argument("--all", action="store_true", help="closed loop + --scale + --ultimate + --latency + --http2")
    ap.add_argument("--scale-duration", type=int, default=60, help="seconds of the scale run")
    ap.add_argument("--ultimate-duration", type=int, default=60, help="seconds of the reference API run")
    ap.add_argument("--latency-duration", type=int, default=30, help="seconds of the loaded latency run")
    ap.add_argument("--latency-ref-duration", type=int, default=20, help="seconds of each single-user reference run")
    ap.add_argument("--skip-oha", action="store_true", help="compare with wrk only")
    ap.add_argument("--scale-rounds", type=int, default=1, help="scale: rounds (each runs every loadgen build once)")
    ap.add_argument("--loadgen-musl", action="store_true",
                    help=f"also build loadgen with --target {MUSL_TARGET} (the container image's build) and run it "
                    "next to the glibc build in every run")
    ap.add_argument("--loadgen-mimalloc", action="store_true",
                    help=f"also build loadgen (and with --loadgen-musl the musl binary) with mimalloc as the global "
                    f"allocator (RUSTFLAGS=\"{MIMALLOC_CFG}\", in target/bench-mimalloc/) and run it the same way")
    ap.add_argument("--all-cores", action="store_true",
                    help="run the chosen closed-loop, scale and reference API runs again with the loadgen builds alone, "
                    "each on every core (one worker thread per core, as in a pod given several cores), the target still on "
                    "core 0: the runs where threads allocate at the same time")
    ap.add_argument("--loadgen-bin", action="append", default=[], metavar="LABEL=PATH",
                    help="also run this prebuilt loadgen binary next to the glibc build in every run (repeatable)")
    args = ap.parse_args()
    extra: list[tuple[str, Path]] = []
    for spec in args.loadgen_bin:
        label, sep, path = spec.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9._+-]+", label) or not path:
            ap.error(f"--loadgen-bin {spec!r}: expected LABEL=PATH, LABEL of letters, digits, '.', '_', '+', '-'")
        if label in ("loadgen", "loadgen-musl", "loadgen-mimalloc", "loadgen-musl-mimalloc", "wrk", "oha") \
                or label in dict(extra):
            ap.error(f"--loadgen-bin {spec!r}: the label {label!r} is taken")
        if not Path(path).is_file() or not os.access(path, os.X_OK):
            ap.error(f"--loadgen-bin {spec!r}: {path} is not an executable file")
        extra.append((label, Path(path).resolve()))
    if args.all:
        args.scale = args.ultimate = args.latency = args.http2 = args.language = True
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 3, 1
        args.scale_duration = min(args.scale_duration, 20)
        args.ultimate_duration = min(args.ultimate_duration, 20)
        args.latency_duration = min(args.latency_duration, 10)
        args.language_duration = min(args.language_duration, 10)
        args.ui_duration = min(args.ui_duration, 15)
        args.latency_ref_duration = min(args.latency_ref_duration, 5)
    if args.rounds < 1 or args.duration < 1 or args.scale_rounds < 1:
        ap.error("--rounds, --duration and --scale-rounds must be at least 1")
    if args.scale and args.scale_duration < 15:
        ap.error("--scale-duration must be at least 15 s (the ramp to 10,000 users takes 10 s)")
    if os.geteuid() != 0:
        print("note: not root: installing nginx/wrk and raising the open-files limit may fail", file=sys.stderr)

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d-%H%M%S")
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    raw = results / stamp
    raw.mkdir()
    out.open(results / f"{stamp}.txt")

    def on_term(signum, frame):
        out(f"stopped by signal {signum}: stopping the servers and the running tool")
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    ok = True
    workdir = None
    try:
        out(f"loadgen benchmark, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC — benches/run.py {' '.join(sys.argv[1:])}")
        oha = install_prerequisites(want_oha=not args.skip_oha)
        workdir = Path(tempfile.mkdtemp(prefix="loadgen-bench-"))
        build_loadgen(workdir, args.loadgen_musl, args.loadgen_mimalloc, extra)
        ncpu = len(os.sched_getaffinity(0))
        cores = (0, 1) if ncpu >= 2 else (None, None)
        describe_machine(cores, oha)
        every = set(os.sched_getaffinity(0))
        if cores[0] is not None:
            os.sched_setaffinity(0, {cores[0]})  # keep this script's polling off the tool's core
        spread = (cores[0], every)
        runs = [
            (not args.no_closed, lambda: closed_loop(args, cores, oha, raw)),
            (args.scale, lambda: scale_run(args, cores, raw)),
            (args.ultimate, lambda: ultimate_run(args, cores, raw)),
            (args.latency, lambda: latency_run(args, cores, raw)),
            (args.language, lambda: language_run(args, cores, raw)),
            (args.http2, lambda: http2_run(args, cores, raw)),
            (args.ui, lambda: ui_run(args, cores, raw)),
            (args.all_cores and not args.no_closed, lambda: closed_loop(args, spread, oha, raw, all_cores=True)),
            (args.all_cores and args.scale, lambda: scale_run(args, spread, raw, all_cores=True)),
            (args.all_cores and args.ultimate, lambda: ultimate_run(args, spread, raw, all_cores=True)),
        ]
        for wanted, run in runs:
            if not wanted:
                continue
            try:
                ok &= run()
            except (KeyError, ValueError, TypeError, OSError) as e:  # e.g. a results field this script misreads
                out(f"this run's report failed: {type(e).__name__}: {e}")
                out("".join(traceback.format_exc().splitlines(keepends=True)[-6:]))
                ok = False
        out()
        out(f"{'done' if ok else 'done, WITH FAILURES (see above)'}; this output: {(results / f'{stamp}.txt').relative_to(REPO)}, "
            f"raw outputs: {raw.relative_to(REPO)}/")
    except KeyboardInterrupt:
        out("interrupted")
        ok = False
    finally:
        cleanup()
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
