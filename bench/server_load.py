#!/usr/bin/env python3
"""Loads one `ferry server` the way issue 9 asks and checks its targets.

    server_load.py [--scenarios idle,n1000,n5000,attacks,onefile]
                   [--mode channel|post] [--ferry build/ferry]
                   [--load build/ferry_agent_load] [--no-build]
                   [--root DIR] [--json-out FILE] [--quick]

Builds build/ferry (scripts/build.sh release ferry) and build/ferry_agent_load
(cmake --build build --target ferry_agent_load) unless --no-build. Each
scenario gets a fresh server: `ferry server init` and `ferry server` in a
directory of its own under ROOT, on a free loopback port. Then:

  idle     1 simulated agent (the probe's execution needs a location, which
           needs an agent); the API probe (DescribeTaskExecution and ListTasks
           in a loop, one in flight) for --probe seconds.
           Target: API p50 < 5 ms.
  n1000    1,000 simulated agents started at once (bench/agent_load: key,
           CSR, POST /agent/v1/activation, CreateAgent, GET the certificate,
           then the session), server flags at their defaults. With the
           agents idle: the server's CPU (% of one core) and RSS over a quiet
           window without the probe, then the probe. Targets: all activated
           and ONLINE, API p99 < 100 ms, RSS < 400 MB, CPU < 25%.
  n5000    the same with 5,000 agents and --max-connections 6000 (reported
           against the same targets; the issue asks for the numbers).
  attacks  100 agents; then 200 slow-loris connections (a quarter never
           finish the TLS handshake) and 200 MiB of chunked garbage POSTed to
           / and to /agent/v1/sync (the latter with an agent's certificate)
           while the probe runs. Targets: API p99 < 100 ms, server RSS grows
           by < 50 MB.
  onefile  a real `ferry agent` process, a LOCAL->LOCAL task over a one-file
           tree: StartTaskExecution to DescribeTaskExecution SUCCESS (polled
           every 5 ms; the destination emptied before each run, outside the
           timing), median of --runs, beside `ferry sync SRC DST` on the same
           tree into a fresh destination (median of --runs). Target: the
           execution's median within 0.2 s of ferry sync's.

--mode picks the agents' session: channel (GET /agent/v1/channel, a
WebSocket; docs/protocol.md) or post (POST /agent/v1/sync on a keep-alive
connection every 15-30 s). Prints a table of each target beside what was
measured, PASS or FAIL; exit status 0 when all judged targets pass.
Standard library only.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Server:
    """A `ferry server` in a data directory of its own."""

    def __init__(self, ferry, root, name, extra_flags=()):
        self.ferry = ferry
        self.dir = os.path.join(root, name)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        subprocess.run(
            [ferry, "server", "init", "--data-dir", self.dir, "--listen",
             f"127.0.0.1:{self.port}"],
            check=True, stdout=subprocess.DEVNULL)
        self.log_path = os.path.join(root, name + "-server.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [ferry, "server", "--data-dir", self.dir, *extra_flags],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"ferry server did not start: see {self.log_path}")
                time.sleep(0.05)

    @property
    def ca(self):
        return os.path.join(self.dir, "ca.pem")

    @property
    def credentials(self):
        return os.path.join(self.dir, "credentials")

    def env(self):
        env = dict(os.environ)
        env.update(AWS_SHARED_CREDENTIALS_FILE=self.credentials,
                   AWS_ENDPOINT_URL=self.url, AWS_CA_BUNDLE=self.ca)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
            env.pop(k, None)
        return env

    def api(self, *args):
        out = subprocess.run([self.ferry, *args], env=self.env(), check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out) if out.strip() else {}

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def log_summary(self):
        """Counts of the server's log lines by kind (the first words)."""
        counts = {}
        with open(self.log_path, errors="replace") as f:
            for line in f:
                words = line.split()
                key = " ".join(words[:4]) if line.startswith("ferry server:") else " ".join(words[:2])
                counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:8])


def run_load(args, server, extra):
    cmd = [args.load, "--server", server.url, "--ca-bundle", server.ca,
           "--credentials", server.credentials, "--server-pid",
           str(server.proc.pid), "--mode", args.mode, *extra]
    log("  $ " + " ".join(cmd))
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"error": f"ferry_agent_load exited {proc.returncode}: {proc.stdout[-500:]}"}


def fleet_scenario(args, name, agents, server_flags, load_flags):
    server = Server(args.ferry, args.root, name, server_flags)
    try:
        report = run_load(args, server, ["--agents", str(agents), *load_flags])
    finally:
        server.stop()
    report["server_log"] = server.log_summary()
    report["server_flags"] = list(server_flags)
    return report


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def onefile_scenario(args):
    work = os.path.join(args.root, "onefile")
    src = os.path.join(work, "src")
    os.makedirs(src)
    with open(os.path.join(src, "file.bin"), "wb") as f:
        f.write(os.urandom(1 << 20))
    # ferry sync, fresh destination each run.
    sync_times = []
    for i in range(args.runs):
        dst = os.path.join(work, f"sync-dst-{i}")
        t0 = time.monotonic()
        subprocess.run([args.ferry, "sync", src, dst, "--no-progress"], check=True,
                       stdout=subprocess.DEVNULL)
        sync_times.append(time.monotonic() - t0)
        shutil.rmtree(dst)
    server = Server(args.ferry, args.root, "onefile-server")
    agent = None
    try:
        agent_dir = os.path.join(work, "agent")
        agent_log = open(os.path.join(args.root, "onefile-agent.log"), "w")
        agent = subprocess.Popen(
            [args.ferry, "agent", "--server", server.url, "--ca-bundle", server.ca,
             "--data-dir", agent_dir, "--allowed-path", work],
            stdout=agent_log, stderr=subprocess.STDOUT)
        key_file = os.path.join(agent_dir, "activation-key")
        deadline = time.monotonic() + 30
        while not os.path.exists(key_file) or not open(key_file).read().strip():
            if time.monotonic() > deadline:
                raise RuntimeError("ferry agent printed no activation key")
            time.sleep(0.05)
        key = open(key_file).read().strip()
        agent_arn = server.api("create-agent", "--activation-key", key,
                               "--agent-name", "onefile")["AgentArn"]
        deadline = time.monotonic() + 60
        while server.api("describe-agent", "--agent-arn", agent_arn)["Status"] != "ONLINE":
            if time.monotonic() > deadline:
                raise RuntimeError("the agent did not come ONLINE")
            time.sleep(0.2)
        dst = os.path.join(work, "task-dst")
        locs = [server.api("create-location-local", "--path", p, "--agent-arns",
                           agent_arn)["LocationArn"] for p in (src, dst)]
        task = server.api("create-task", "--source-location-arn", locs[0],
                          "--destination-location-arn", locs[1])["TaskArn"]
        cmd = [args.load, "--server", server.url, "--ca-bundle", server.ca,
               "--credentials", server.credentials, "--exec-task-arn", task,
               "--exec-runs", str(args.runs), "--exec-poll-ms", "5",
               "--exec-clear", dst]
        log("  $ " + " ".join(cmd))
        out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        report = json.loads(out.stdout)
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(30)
        server.stop()
    report["sync_runs_s"] = sync_times
    report["sync_median_s"] = median(sync_times)
    return report


def verdict(ok):
    return "PASS" if ok else "FAIL"


def judge(results):
    """Rows of (scenario, target, measured, verdict)."""
    rows = []

    def add(scenario, target, measured, ok, judged=True):
        rows.append((scenario, target, measured, verdict(ok) if judged else "(report)"))

    r = results.get("idle")
    if r:
        p = r.get("probe", {}).get("all", {})
        add("idle", "API p50 < 5 ms", f"p50 {p.get('p50_ms', float('nan')):.2f} ms, "
            f"p99 {p.get('p99_ms', float('nan')):.2f} ms ({p.get('count', 0)} calls)",
            p.get("p50_ms", 1e9) < 5)
    for name, judged in (("n1000", True), ("n5000", False)):
        r = results.get(name)
        if not r:
            continue
        n = r.get("agents", 0)
        if "error" in r:
            add(name, "ran", r["error"][:80], False, judged)
            continue
        act = r.get("fleet", {}).get("activated", 0)
        add(name, f"{n} started at once all activate",
            f"{act} in {r.get('activation_all_s', 0):.1f} s", act == n, judged)
        on = r.get("online", 0)
        add(name, f"... and come ONLINE", f"{on} ONLINE ({r['fleet'].get('sessions_connected', 0)} "
            f"sessions connected)", on == n, judged)
        p = r.get("probe", {}).get("all", {})
        add(name, "API p99 < 100 ms", f"p99 {p.get('p99_ms', float('nan')):.1f} ms "
            f"(p50 {p.get('p50_ms', float('nan')):.1f}, max {p.get('max_ms', float('nan')):.1f})",
            p.get("p99_ms", 1e9) < 100, judged)
        q = r.get("quiet", {})
        rss = max(q.get("rss_max_mb", 0), r.get("probe", {}).get("server", {}).get("rss_max_mb", 0))
        add(name, "server RSS < 400 MB", f"{rss:.0f} MB (peak since start "
            f"{r.get('server_peak_rss_mb', 0):.0f} MB)", 0 < rss < 400, judged)
        cpu = q.get("cpu_percent_of_one_core", float("nan"))
        add(name, "server CPU < 25% of a core, agents idle",
            f"{cpu:.1f}% over {q.get('seconds', 0):.0f} s", cpu < 25, judged)
    r = results.get("attacks")
    if r:
        a = r.get("attack", {})
        add("attacks", "API p99 < 100 ms under attack",
            f"p99 {a.get('probe_p99_ms', float('nan')):.1f} ms (max {a.get('probe_max_ms', float('nan')):.1f})",
            a.get("probe_p99_ms", 1e9) < 100)
        g = a.get("rss_growth_max_mb", float("nan"))
        add("attacks", "server RSS grows < 50 MB", f"+{g:.1f} MB "
            f"({a.get('garbage_mb_written', 0):.0f} MiB garbage written, "
            f"{a.get('slowloris_connects', 0)} slow-loris connects)", g < 50)
    r = results.get("onefile")
    if r:
        if "error" in r:
            add("onefile", "start-to-SUCCESS within 0.2 s of ferry sync", r["error"][:80], False)
        else:
            d = r["median_s"] - r["sync_median_s"]
            add("onefile", "start-to-SUCCESS within 0.2 s of ferry sync",
                f"{r['median_s']:.3f} s vs ferry sync {r['sync_median_s']:.3f} s (+{d:.3f} s)",
                d <= 0.2)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenarios", default="idle,n1000,n5000,attacks,onefile")
    ap.add_argument("--mode", default="channel", choices=["channel", "post"])
    ap.add_argument("--ferry", default=os.path.join(REPO, "build", "ferry"))
    ap.add_argument("--load", default=os.path.join(REPO, "build", "ferry_agent_load"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--root", default=None, help="work directory (default: a new one in /tmp)")
    ap.add_argument("--json-out")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--quiet", type=float, default=30, help="seconds of the quiet (CPU) window")
    ap.add_argument("--probe", type=float, default=30, help="seconds of each probe window")
    ap.add_argument("--quick", action="store_true",
                    help="short windows, 100 and 300 agents, 20 MiB garbage: checks the script")
    args = ap.parse_args()

    if not args.no_build:
        subprocess.run([os.path.join(REPO, "scripts", "build.sh"), "release", "ferry"], check=True)
        subprocess.run(["cmake", "--build", os.path.join(REPO, "build"), "--target",
                        "ferry_agent_load"], check=True)
    root_given = args.root is not None
    root = args.root or tempfile.mkdtemp(prefix="ferry-load-")
    os.makedirs(root, exist_ok=True)
    args.root = root
    quick = args.quick
    quiet = ["--quiet", str(5 if quick else args.quiet), "--probe", str(5 if quick else args.probe)]

    log(f"server_load: {os.cpu_count()} CPUs, load average {loadavg()}, work in {root}")
    results = {"machine": {"nproc": os.cpu_count(), "load_at_start": loadavg()},
               "mode": args.mode}
    for scenario in args.scenarios.split(","):
        log(f"== {scenario} (load average {loadavg()})")
        t0 = time.monotonic()
        if scenario == "idle":
            results[scenario] = fleet_scenario(args, scenario, 1, [], ["--settle", "2", *quiet])
        elif scenario == "n1000":
            results[scenario] = fleet_scenario(args, scenario, 100 if quick else 1000, [], quiet)
        elif scenario == "n5000":
            results[scenario] = fleet_scenario(args, scenario, 300 if quick else 5000,
                                               ["--max-connections", "6000"], quiet)
        elif scenario == "attacks":
            results[scenario] = fleet_scenario(
                args, scenario, 100, [],
                ["--quiet", "5", "--probe", "10", "--slowloris", "200", "--garbage-mb",
                 "20" if quick else "200", "--attack", "10" if quick else str(args.probe)])
        elif scenario == "onefile":
            results[scenario] = onefile_scenario(args)
        else:
            sys.exit(f"unknown scenario {scenario}")
        log(f"   {scenario}: {time.monotonic() - t0:.0f} s")
    results["machine"]["load_at_end"] = loadavg()

    rows = judge(results)
    widths = [max(len(str(r[i])) for r in rows + [("scenario", "target", "measured", "")])
              for i in range(4)]
    print()
    for r in [("scenario", "target", "measured", "verdict")] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    print(f"\nload average at start {results['machine']['load_at_start']}, "
          f"at end {results['machine']['load_at_end']}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=2)
    if not root_given:
        shutil.rmtree(root, ignore_errors=True)
    sys.exit(0 if all(r[3] != "FAIL" for r in rows) else 1)


if __name__ == "__main__":
    main()
