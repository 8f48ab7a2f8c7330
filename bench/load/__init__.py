"""Load generators for the HTTP benches: ``wrk`` (closed loop, Debian package, installed on demand) with a
Lua script, and ``openloop`` (a fixed-rate client in C, compiled on demand with gcc), plus the server start
and the CPU accounting of its processes from /proc."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
_BUILD = Path(tempfile.gettempdir()) / "donatello-bench-load"

#: wrk's Lua hooks: one request shape, and a summary on stdout that Python parses (one JSON line).
_LUA = """
wrk.method = "{method}"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
function done(summary, latency, requests)
  io.write(string.format(
    '{{"requests":%d,"seconds":%.3f,"timeouts":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,'
    .. '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}}\\n',
    summary.requests, summary.duration / 1e6, summary.errors.timeout, summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
"""


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    timeouts: int
    non2xx: int
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def ensure_wrk() -> str:
    """wrk's path; installed with apt-get (we run as root) when missing, or a clear exit."""
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (apt-get install -y wrk) ...", file=sys.stderr)
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as error:
        sys.exit(
            f"bench: wrk is needed and could not be installed with apt-get ({error}); install it: apt-get install wrk"
        )
    found = shutil.which("wrk")
    if not found:
        sys.exit("bench: apt-get installed wrk but it is not on PATH")
    return found


def wrk(base: str, path: str, token: str, *, clients: int, seconds: int, body: dict[str, str] | None) -> Load:
    """Closed-loop load: ``clients`` connections each sending the next request when the last answers."""
    script = _LUA.format(
        method="POST" if body is not None else "GET",
        body=json.dumps(json.dumps(body)) if body is not None else "nil",
        token=token,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    threads = min(clients, 2)
    result = subprocess.run(
        [
            ensure_wrk(),
            f"-t{threads}",
            f"-c{clients}",
            f"-d{seconds}s",
            "--timeout",
            "2s",
            "-s",
            handle.name,
            base + path,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    os.unlink(handle.name)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    return Load(
        requests=summary["requests"],
        seconds=summary["seconds"],
        timeouts=summary["timeouts"],
        non2xx=summary["non2xx"],
        errors=summary["connect"] + summary["read"] + summary["write"],
        p50_ms=summary["p50_ms"],
        p99_ms=summary["p99_ms"],
    )


def openloop(
    host: str, port: int, path: str, token: str, body: dict[str, str], *, rate: float, seconds: int
) -> dict[str, float]:
    """Fixed-rate (open-loop) load: latency from each request's intended send time (see openloop.c)."""
    binary = _compile("openloop")
    payload = json.dumps(body)
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n{payload}"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".http", delete=False) as handle:
        handle.write(request)
    result = subprocess.run(
        [str(binary), host, str(port), handle.name, f"{rate:.1f}", str(seconds), "64"],
        capture_output=True,
        text=True,
        check=True,
    )
    os.unlink(handle.name)
    return {k: float(v) for k, v in (pair.split("=") for pair in result.stdout.split())}


def _compile(name: str) -> Path:
    source = HERE / f"{name}.c"
    binary = _BUILD / name
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        if shutil.which("gcc") is None:
            sys.exit(f"bench: gcc is needed to build {name} (apt-get install gcc)")
        _BUILD.mkdir(exist_ok=True)
        subprocess.run(["gcc", "-O2", "-o", str(binary), str(source)], check=True)
    return binary


def serve_command(donatello: Path, port: int) -> list[str]:
    """``donatello serve`` on ``port``, with every core serving when the CLI offers ``--workers``."""
    command = [str(donatello), "serve", "--port", str(port)]
    help_text = subprocess.run([str(donatello), "serve", "--help"], capture_output=True, text=True).stdout
    if "--workers" in help_text:
        command += ["--workers", str(os.cpu_count() or 1)]
    return command


def cpu_seconds(root: int) -> float:
    """User + system CPU seconds of process ``root`` and its live descendants (server workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    family, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in family]
        family.update(children)
        frontier.extend(children)
    return sum(used.get(pid, 0.0) for pid in family)


def pgbench_tps(binary: Path, args: list[str]) -> tuple[float, float]:
    result = subprocess.run([str(binary), *args], capture_output=True, text=True, check=True)
    tps = float(re.search(r"tps = ([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]
    latency = float(re.search(r"latency average = ([\d.]+) ms", result.stdout).group(1))  # type: ignore[union-attr]
    return tps, latency
