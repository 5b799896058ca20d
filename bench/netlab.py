#!/usr/bin/env python3
"""Two test hosts in network namespaces, and the links between them, for
link_bench.py: a fast direct veth, and a routed path whose rate, loss and
round trip are set per scenario. Run as root; standard library only.

    ferrybenchA (sender)                         ferrybenchB (receiver)
      lo 10.77.0.1/32  ---- fbAB-a == fbAB-b ----  lo 10.77.0.2/32
                            10.77.3.1   10.77.3.2          (direct: loopback speed)
                       ---- fbAR-a == fbAR-r  [ferrybenchR]  fbBR-r == fbBR-b ----
                            10.77.1.1   10.77.1.2   10.77.2.2   10.77.2.1
                                       (routed: tbf rate, nftables loss, delay)
      fbC-a 10.77.9.2 ==== fbbr0 10.77.9.1 (root namespace) ==== fbC-b 10.77.9.3
                           (control: the ferry server, never shaped)

Each host talks to the other's service address (10.77.0.x on lo); which path
carries it is one `ip route replace` in A and in B (set_path), so nothing that
listens has to move between scenarios.

Shaping, all in the router namespace R so that the hosts' own stacks are
untouched, on R's egress towards each host (both directions shaped alike):
  rate    tbf, with a queue of max(rate x 50 ms, 256 KiB);
  loss    an nftables rule `numgen random mod 100000 < N drop` (with counters);
  delay   (latency="tun", the default) a delay line: the packets R forwards
          between A and B are routed (policy rules on their input interface)
          into a TUN device whose reader (this file's `delayline`, in R) writes
          each one back DELAY ms later; back in R's stack they go on to their
          host. Every packet is delayed in each direction, so TCP sees the
          round trip, loses packets over it and grows its window over it, as on
          a real WAN. The kernel has no netem (COMPONENTS.md section 7).
          (latency="proxy") the userspace TCP proxy of COMPONENTS.md: nftables
          DNAT in A sends the connections to B's ports 7447 (the ferry link)
          and 22 (ssh) to a proxy in R that forwards them to B after DELAY ms.
          TCP then ends at the proxy: the loss is recovered over a 0.1 ms hop
          and the round trip never limits a TCP window (only the applications'
          own windows). Kept for comparison with the delay line.
"""

import collections
import ctypes
import fcntl
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

NS_A, NS_R, NS_B = "ferrybenchA", "ferrybenchR", "ferrybenchB"
NAMESPACES = (NS_A, NS_R, NS_B)
ADDR_A, ADDR_B = "10.77.0.1", "10.77.0.2"  # service addresses (on lo)
CTL_ROOT, CTL_A, CTL_B = "10.77.9.1", "10.77.9.2", "10.77.9.3"
BRIDGE = "fbbr0"
TUN = "fbdelay"
PROXY_PORTS = {7447: 17447, 22: 10022, 7999: 17999}  # B port -> proxy port in R (7999: the probes)
HERE = os.path.abspath(__file__)

_LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    _LIBC.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def run(args, check=True, input=None):
    p = subprocess.run(args, capture_output=True, text=True, input=input)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} -> exit {p.returncode}: {p.stderr.strip()}")
    return p


def nsexec(ns, args):
    return ["ip", "netns", "exec", ns] + list(args)


def ns_run(ns, args, check=True, input=None):
    return run(nsexec(ns, args), check=check, input=input)


def existing_namespaces():
    p = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in p.stdout.splitlines() if line.split()]


# The control links' ends in the root namespace. The kernel removes a
# namespace (and the veth ends in it) in the background, after `ip netns del`
# returns, and while it has not, these ends are still here.
ROOT_PORTS = ("fbC-a0", "fbC-b0")


def leftovers():
    """Namespaces, processes, the bridge and the root namespace's ends of the
    control links a run that died (or one that just ended) left behind."""
    names = [n for n in existing_namespaces() if n in NAMESPACES]
    pids = []
    for n in names:
        p = run(["ip", "netns", "pids", n], check=False)
        pids += [int(x) for x in p.stdout.split() if x.isdigit()]
    bridge = os.path.exists(f"/sys/class/net/{BRIDGE}")
    ports = [d for d in ROOT_PORTS if os.path.exists(f"/sys/class/net/{d}")]
    return names, pids, bridge or bool(ports)


def remove_leftovers(log=print):
    names, pids, bridge = leftovers()
    for pid in pids:
        log(f"  killing process {pid} left in a ferrybench namespace by an earlier run")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for n in names:
        run(["ip", "netns", "del", n], check=False)
    if bridge:
        run(["ip", "link", "del", BRIDGE], check=False)
    remove_root_ports()


def remove_root_ports():
    """Deletes the root namespace's ends of the control links (a veth goes
    with either of its ends)."""
    for d in ROOT_PORTS:
        if os.path.exists(f"/sys/class/net/{d}"):
            run(["ip", "link", "del", d], check=False)


class Lab:
    def __init__(self, workdir, log=print):
        self.workdir = workdir
        self.log = log
        self.procs = []  # every process started here (stopped by down())
        self.delay = None  # the delay line or proxies
        self.shaping = {}
        self.path = None

    # ------------------------------------------------------------ set up

    def up(self):
        names, pids, bridge = leftovers()
        if names or pids or bridge:
            self.log(f"  removing what an earlier run left: namespaces {names}, "
                     f"{len(pids)} processes, bridge or control links {'yes' if bridge else 'no'}")
            remove_leftovers(self.log)
        for n in NAMESPACES:
            run(["ip", "netns", "add", n])
        sh = []

        def pair(a, ns_a, b, ns_b):
            sh.append(["ip", "link", "add", a, "type", "veth", "peer", "name", b])
            if ns_a:
                sh.append(["ip", "link", "set", a, "netns", ns_a])
            if ns_b:
                sh.append(["ip", "link", "set", b, "netns", ns_b])

        pair("fbAB-a", NS_A, "fbAB-b", NS_B)
        pair("fbAR-a", NS_A, "fbAR-r", NS_R)
        pair("fbBR-b", NS_B, "fbBR-r", NS_R)
        pair("fbC-a", NS_A, ROOT_PORTS[0], None)
        pair("fbC-b", NS_B, ROOT_PORTS[1], None)
        for cmd in sh:
            run(cmd)
        # The control bridge in the root namespace (the server's address).
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        for port in ROOT_PORTS:
            run(["ip", "link", "set", port, "master", BRIDGE])
            run(["ip", "link", "set", port, "up"])
        run(["ip", "addr", "add", f"{CTL_ROOT}/24", "dev", BRIDGE])
        run(["ip", "link", "set", BRIDGE, "up"])
        addrs = {
            NS_A: [("fbAB-a", "10.77.3.1/30"), ("fbAR-a", "10.77.1.1/24"),
                   ("fbC-a", f"{CTL_A}/24"), ("lo", f"{ADDR_A}/32")],
            NS_B: [("fbAB-b", "10.77.3.2/30"), ("fbBR-b", "10.77.2.1/24"),
                   ("fbC-b", f"{CTL_B}/24"), ("lo", f"{ADDR_B}/32")],
            NS_R: [("fbAR-r", "10.77.1.2/24"), ("fbBR-r", "10.77.2.2/24")],
        }
        for ns, items in addrs.items():
            ns_run(ns, ["ip", "link", "set", "lo", "up"])
            for dev, addr in items:
                ns_run(ns, ["ip", "addr", "add", addr, "dev", dev])
                ns_run(ns, ["ip", "link", "set", dev, "up"])
        for ns in NAMESPACES:
            for key in ("net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter"):
                ns_run(ns, ["sysctl", "-qw", f"{key}=0"])
        ns_run(NS_R, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        ns_run(NS_R, ["ip", "route", "add", f"{ADDR_A}/32", "via", "10.77.1.1"])
        ns_run(NS_R, ["ip", "route", "add", f"{ADDR_B}/32", "via", "10.77.2.1"])
        self.set_path("direct")

    def set_path(self, path):
        """direct: the A-B veth; routed: through R (and its shaping)."""
        via_a, dev_a, via_b, dev_b = {
            "direct": ("10.77.3.2", "fbAB-a", "10.77.3.1", "fbAB-b"),
            "routed": ("10.77.1.2", "fbAR-a", "10.77.2.2", "fbBR-b"),
        }[path]
        ns_run(NS_A, ["ip", "route", "replace", f"{ADDR_B}/32", "via", via_a, "dev", dev_a,
                      "src", ADDR_A])
        ns_run(NS_B, ["ip", "route", "replace", f"{ADDR_A}/32", "via", via_b, "dev", dev_b,
                      "src", ADDR_B])
        self.path = path

    def sysctl(self, ns, key):
        return ns_run(ns, ["sysctl", "-n", key], check=False).stdout.strip()

    def congestion_control(self):
        return {ns: self.sysctl(ns, "net.ipv4.tcp_congestion_control") for ns in (NS_A, NS_B)}

    def set_congestion_control(self, cc):
        for ns in (NS_A, NS_B, NS_R):
            ns_run(ns, ["sysctl", "-qw", f"net.ipv4.tcp_congestion_control={cc}"])

    # ----------------------------------------------------------- shaping

    def shape(self, rate_mbit=None, loss_pct=0.0, delay_ms=0.0, latency="tun"):
        """Sets the routed path's shaping (and routes A-B through R)."""
        self.unshape()
        self.set_path("routed")
        if rate_mbit:
            limit = max(int(rate_mbit * 1e6 / 8 * 0.050), 256 * 1024)
            burst = max(int(rate_mbit * 1e6 / 8 / 250), 64 * 1024)
            for dev in ("fbAR-r", "fbBR-r"):
                ns_run(NS_R, ["tc", "qdisc", "add", "dev", dev, "root", "tbf",
                              "rate", f"{rate_mbit}mbit", "burst", str(burst),
                              "limit", str(limit)])
        if loss_pct:
            n = round(loss_pct * 1000)  # of 100,000
            # The same rules for packets R forwards and for those it sends.
            rules = f"""
    oifname "fbBR-r" counter name "toB"
    oifname "fbAR-r" counter name "toA"
    oifname "fbBR-r" numgen random mod 100000 < {n} counter name "dropB" drop
    oifname "fbAR-r" numgen random mod 100000 < {n} counter name "dropA" drop"""
            ns_run(NS_R, ["nft", "-f", "-"], input=f"""
table inet ferrybench {{
  counter toB {{ }}
  counter toA {{ }}
  counter dropB {{ }}
  counter dropA {{ }}
  chain shape {{
    type filter hook forward priority 0; policy accept;{rules}
  }}
  chain shape_local {{
    type filter hook output priority 0; policy accept;{rules}
  }}
}}
""")
        if delay_ms:
            if latency == "tun":
                self._start_delayline(delay_ms)
            elif latency == "proxy":
                self._start_proxies(delay_ms)
            else:
                raise ValueError(latency)
        self.shaping = {"rate_mbit": rate_mbit, "loss_pct": loss_pct, "delay_ms": delay_ms,
                        "latency": latency if delay_ms else None}

    def unshape(self):
        for dev in ("fbAR-r", "fbBR-r"):
            ns_run(NS_R, ["tc", "qdisc", "del", "dev", dev, "root"], check=False)
        ns_run(NS_R, ["nft", "delete", "table", "inet", "ferrybench"], check=False)
        ns_run(NS_A, ["nft", "delete", "table", "ip", "ferrybench-proxy"], check=False)
        for pref in ("100", "101"):
            ns_run(NS_R, ["ip", "rule", "del", "pref", pref], check=False)
        ns_run(NS_R, ["ip", "route", "flush", "table", "100"], check=False)
        for dev in ("fbAR-r", "fbBR-r"):
            ns_run(NS_R, ["ip", "link", "set", "dev", dev, "gso_max_segs", "65535"],
                   check=False)
        if self.delay:
            for p in self.delay:
                self.stop(p)
            self.delay = None
        self.shaping = {}
        self.set_path("direct")

    def _start_delayline(self, delay_ms):
        log = os.path.join(self.workdir, "delayline.log")
        p = self.spawn(NS_R, [sys.executable, HERE, "delayline", TUN, str(delay_ms / 2)], log)
        self.delay = [p]
        deadline = time.monotonic() + 10
        while ns_run(NS_R, ["ip", "link", "show", TUN], check=False).returncode != 0:
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the delay line did not start: {tail(log)}")
            time.sleep(0.05)
        ns_run(NS_R, ["ip", "link", "set", TUN, "mtu", "1500", "up"])
        ns_run(NS_R, ["sysctl", "-qw", f"net.ipv4.conf.{TUN}.rp_filter=0"])
        ns_run(NS_R, ["ip", "route", "add", "default", "dev", TUN, "table", "100"])
        # What arrives from either host goes into the delay line; what the
        # line writes back arrives on the TUN and takes the main table.
        ns_run(NS_R, ["ip", "rule", "add", "pref", "100", "iif", "fbAR-r", "lookup", "100"])
        ns_run(NS_R, ["ip", "rule", "add", "pref", "101", "iif", "fbBR-r", "lookup", "100"])

    def _start_proxies(self, delay_ms):
        self.delay = []
        # The proxies' own TCP would hand R's interfaces 64 KiB GSO packets,
        # which the loss rule would drop whole: one segment per packet.
        for dev in ("fbAR-r", "fbBR-r"):
            ns_run(NS_R, ["ip", "link", "set", "dev", dev, "gso_max_segs", "1"])
        rules = []
        for port, pport in PROXY_PORTS.items():
            log = os.path.join(self.workdir, f"proxy-{port}.log")
            self.delay.append(self.spawn(
                NS_R, [sys.executable, HERE, "proxy", "10.77.1.2", str(pport), ADDR_B,
                       str(port), str(delay_ms / 2)], log))
            rules.append(f"ip daddr {ADDR_B} tcp dport {port} dnat to 10.77.1.2:{pport}")
        # Wait for each proxy's word that it listens (a test connection would
        # reach the receiver agent, which would log a refused handshake).
        deadline = time.monotonic() + 10
        for p in self.delay:
            while "listening" not in tail(p.log_path, 5):
                if p.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"a delay proxy did not start: {tail(p.log_path)}")
                time.sleep(0.05)
        ns_run(NS_A, ["nft", "-f", "-"], input="table ip ferrybench-proxy {\n"
               "  chain out {\n    type nat hook output priority -100; policy accept;\n"
               + "".join(f"    {r}\n" for r in rules) + "  }\n}\n")

    # ---------------------------------------------------------- counters

    def wire_bytes(self):
        """Bytes each direction put on the wire so far (L2 frames, as tbf
        counts them): A->B and B->A, on whichever path is in use."""
        if self.path == "direct":
            return {"a2b": read_stat(NS_A, "fbAB-a", "tx_bytes"),
                    "b2a": read_stat(NS_B, "fbAB-b", "tx_bytes")}
        return {"a2b": read_stat(NS_R, "fbBR-r", "tx_bytes"),
                "b2a": read_stat(NS_R, "fbAR-r", "tx_bytes")}

    def loss_counters(self):
        """{name: packets} of the nftables counters (empty without loss)."""
        p = ns_run(NS_R, ["nft", "list", "counters", "table", "inet", "ferrybench"],
                   check=False)
        out = {}
        name = None
        for line in p.stdout.splitlines():
            w = line.split()
            if w[:1] == ["counter"] and len(w) > 1:
                name = w[1]
            elif "packets" in w and name:
                out[name] = int(w[w.index("packets") + 1])
        return out

    # --------------------------------------------------------- processes

    def spawn(self, ns, args, log_path, env=None):
        """A process in namespace ns (None: this one), in its own process
        group, killed with this one; stopped by down()."""
        cmd = nsexec(ns, args) if ns else list(args)
        with open(log_path, "ab") as log:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True,
                                 preexec_fn=_die_with_parent, env=env)
        p.log_path = log_path
        self.procs.append(p)
        return p

    def stop(self, p, timeout=10):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            pass
        if p in self.procs:
            self.procs.remove(p)

    def down(self):
        for p in list(reversed(self.procs)):
            self.stop(p)
        for n in NAMESPACES:
            if n in existing_namespaces():
                left = run(["ip", "netns", "pids", n], check=False).stdout.split()
                for pid in left:  # started inside our namespaces by our processes (sshd's children)
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
                run(["ip", "netns", "del", n], check=False)
        run(["ip", "link", "del", BRIDGE], check=False)
        remove_root_ports()

    # ------------------------------------------------------------ probes

    def probe(self, seconds=3.0):
        """The path as it is now: TCP round trip (median of 20 one-byte echoes,
        from A to B's service address) and one TCP stream's rate A->B."""
        port = 7999
        log = os.path.join(self.workdir, "probe.log")
        echo = self.spawn(NS_B, [sys.executable, HERE, "echo", ADDR_B, str(port)], log)
        try:
            wait_port(NS_B, ADDR_B, port, 10)
            out = ns_run(NS_A, [sys.executable, HERE, "rtt", ADDR_B, str(port)]).stdout.split()
            rtt_ms = float(out[0])
        finally:
            self.stop(echo)
        sink = self.spawn(NS_B, [sys.executable, HERE, "sink", ADDR_B, str(port)], log)
        try:
            wait_port(NS_B, ADDR_B, port, 10)
            out = ns_run(NS_A, [sys.executable, HERE, "source", ADDR_B, str(port),
                                str(seconds)]).stdout.split()
            mbit = float(out[0])
        finally:
            self.stop(sink)
        return {"rtt_ms": rtt_ms, "tcp_mbit": mbit}


def read_stat(ns, dev, what):
    return int(ns_run(ns, ["cat", f"/sys/class/net/{dev}/statistics/{what}"]).stdout)


def tail(path, n=20):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
    except OSError:
        return f"(no {path})"


def wait_port(ns, host, port, timeout):
    """Waits until something in namespace ns listens on host:port."""
    deadline = time.monotonic() + timeout
    code = ("import socket,sys\ns=socket.socket()\ns.settimeout(1)\n"
            f"sys.exit(0 if s.connect_ex(({host!r},{port}))==0 else 1)")
    while True:
        if ns_run(ns, [sys.executable, "-c", code], check=False).returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on {host}:{port} in {ns} after {timeout} s")
        time.sleep(0.05)


# ------------------------------------------------- the helper processes


def delayline(name, one_way_ms):
    """Reads every packet routed into TUN `name` and writes it back
    one_way_ms later (a FIFO: the same delay for every packet keeps order)."""
    TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    os.set_blocking(fd, False)
    delay = one_way_ms / 1000.0
    q = collections.deque()
    read, write, now_f, sel = os.read, os.write, time.monotonic, select.select
    fds = [fd]
    while True:
        # Sleep until a packet arrives or the oldest is due (select's timeout
        # has microseconds: no busy wait, about 0.1 ms late at worst).
        if q:
            wait = q[0][0] - now_f()
            ready = sel(fds, (), (), wait)[0] if wait > 0 else True
        else:
            ready = sel(fds, (), ())[0]
        if ready:
            due = now_f() + delay
            while True:
                try:
                    q.append((due, read(fd, 65536)))
                except BlockingIOError:
                    break
        now = now_f()
        while q and q[0][0] <= now:
            try:
                write(fd, q.popleft()[1])
            except OSError:
                pass  # as a full queue would: the packet is lost


def proxy(listen_host, listen_port, up_host, up_port, one_way_ms):
    """COMPONENTS.md's delayproxy.py, with TCP_NODELAY and a bound (4 MiB a
    direction) on what it holds, so that it cannot swallow a whole transfer."""
    import asyncio
    delay = one_way_ms / 1000.0
    bound = 4 << 20

    async def pump(reader, writer):
        q = asyncio.Queue()
        held = [0]
        room = asyncio.Event()
        room.set()

        async def rx():
            while True:
                await room.wait()
                data = await reader.read(65536)
                held[0] += len(data)
                if held[0] >= bound:
                    room.clear()
                await q.put((time.monotonic() + delay, data))
                if not data:
                    return

        async def tx():
            while True:
                due, data = await q.get()
                d = due - time.monotonic()
                if d > 0:
                    await asyncio.sleep(d)
                if not data:
                    try:
                        writer.write_eof()
                    except OSError:
                        pass
                    return
                writer.write(data)
                await writer.drain()
                held[0] -= len(data)
                if held[0] < bound:
                    room.set()
        await asyncio.gather(rx(), tx())

    async def handle(cr, cw):
        try:
            ur, uw = await asyncio.open_connection(up_host, up_port)
        except OSError:
            cw.close()
            return
        for w in (cw, uw):
            w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await asyncio.gather(pump(cr, uw), pump(ur, cw))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            cw.close()
            uw.close()

    async def main():
        srv = await asyncio.start_server(handle, listen_host, listen_port)
        print(f"listening on {listen_host}:{listen_port}", flush=True)
        async with srv:
            await srv.serve_forever()
    asyncio.run(main())


def _listener(host, port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(4)
    return s


def echo(host, port):
    s = _listener(host, port)
    while True:
        c, _ = s.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
        c.close()


def rtt(host, port):
    s = socket.create_connection((host, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ts = []
    for _ in range(20):
        t = time.monotonic()
        s.sendall(b"x")
        s.recv(1)
        ts.append((time.monotonic() - t) * 1000)
    ts.sort()
    print(f"{ts[len(ts) // 2]:.3f}")


def sink(host, port):
    s = _listener(host, port)
    while True:
        c, _ = s.accept()
        buf = bytearray(1 << 20)
        while c.recv_into(buf):
            pass
        c.close()


def source(host, port, seconds):
    s = socket.create_connection((host, port), timeout=10)
    data = os.urandom(1 << 20)
    sent = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        s.sendall(data)
        sent += len(data)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)  # until the sink has read everything and closed
    dt = time.monotonic() - t0
    print(f"{sent * 8 / dt / 1e6:.1f}")


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    if what == "delayline":
        delayline(args[0], float(args[1]))
    elif what == "proxy":
        proxy(args[0], int(args[1]), args[2], int(args[3]), float(args[4]))
    elif what == "echo":
        echo(args[0], int(args[1]))
    elif what == "rtt":
        rtt(args[0], int(args[1]))
    elif what == "sink":
        sink(args[0], int(args[1]))
    elif what == "source":
        source(args[0], int(args[1]), float(args[2]))
    else:
        sys.exit(f"netlab.py: unknown helper {what}")
