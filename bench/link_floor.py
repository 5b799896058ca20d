#!/usr/bin/env python3
"""The least CPU a link copy of one GiB can cost on this machine (issue 12).

    sudo python3 bench/link_floor.py [--ferry build/ferry] [--gib 2] [--runs 3]

link_bench.py's loopback target asks for `large` at 1.0 GB/s on the 2 cores
that carry both agents. Both agents together then get 2 core-seconds per
second: 2.15 s of CPU per GiB at the most, with both cores busy all the time.
This script measures, on the same two hosts and the same direct veth
(netlab.py), what the pieces of such a copy cost that no design of the link can
leave out, and adds them up:

  tcp     GIB GiB from memory over plain TCP from A to B, in sends of 16 KiB,
          64 KiB and 256 KiB (reads of 256 KiB): the CPU time of the sender and
          the receiver (getrusage, each process on its own)
  tls     the same over TLS 1.3 with Python's ssl module, which is the
          system's OpenSSL (the one ferry links): records are made into a
          memory BIO and sent 256 KiB at a time, as ferry's link sends them.
          Python copies the data once more in each direction than ferry does,
          so this is an upper bound of TLS + TCP
  cipher  `openssl speed -evp aes-128-gcm -bytes 16384`, encrypting and
          decrypting (ferry's link prefers AES-128-GCM): the cipher alone, its
          data in the cache
  files   `ferry sync SRC DST --verify-mode NONE` on one machine, tmpfs to
          tmpfs, a tree of 8 files of 128 MiB: reading, checksumming and
          writing, with no link (GNU time's user + system time)

The floor is files + 2 x cipher + tcp (256 KiB sends): reading and writing the
files, encrypting and decrypting every byte once, and one TCP stream. It leaves
out what every real link adds: the receiver's checksum, the copies OpenSSL
makes of each record, framing, acknowledgements and threads. The rate the floor
allows is the cores / the floor; the script prints it beside the target and
beside what `tls` (the measured TLS stream) plus `files` allow.

Every number is the median of --runs runs. Run it on an idle machine, as root.
Standard library only, plus the system's `openssl` command and GNU time.
"""

import argparse
import json
import os
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import netlab  # noqa: E402

GIB = 1 << 30
PORT = 7998
BLOCK = 1 << 20


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ------------------------------------------------------------------ helpers
# Run inside the namespaces (`link_floor.py recv|send ...`); each prints one
# line of JSON: its wall and CPU seconds for the bytes it moved.

def helper_recv(host, port, total, read_size, certdir, copy):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(1)
    print("listening", flush=True)
    c, _ = ls.accept()
    buf = bytearray(read_size)
    view = memoryview(buf)
    got = 0
    if certdir:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(certdir, "cert.pem"),
                            os.path.join(certdir, "key.pem"))
        tls, incoming, outgoing = tls_handshake(ctx, c, server=True)
    t0, u0 = time.monotonic(), cpu_seconds()
    if certdir:
        plain = bytearray(BLOCK)
        while got < total:
            try:
                got += tls.read(BLOCK, plain)
                continue
            except ssl.SSLWantReadError:
                pass
            n = c.recv_into(view)
            if n == 0:
                break
            incoming.write(view[:n])
    else:
        spare = bytearray(read_size)
        while got < total:
            n = c.recv_into(view)
            if n == 0:
                break
            if copy:
                spare[:n] = view[:n]
            got += n
    print(json.dumps({"bytes": got, "seconds": time.monotonic() - t0,
                      "cpu": cpu_seconds() - u0}), flush=True)


def helper_send(host, port, total, send_size, tls_on, copy):
    c = socket.create_connection((host, port), timeout=30)
    data = os.urandom(BLOCK if tls_on else send_size)
    sent = 0
    if tls_on:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        tls, incoming, outgoing = tls_handshake(ctx, c, server=False)
    t0, u0 = time.monotonic(), cpu_seconds()
    if tls_on:
        while sent < total:
            tls.write(data)
            sent += len(data)
            while outgoing.pending:
                c.sendall(outgoing.read(send_size))
    else:
        while sent < total:
            c.sendall(bytes(data) if copy else data)
            sent += len(data)
    seconds, cpu = time.monotonic() - t0, cpu_seconds() - u0
    c.shutdown(socket.SHUT_WR)
    c.recv(1)  # until the receiver has everything and closes
    print(json.dumps({"bytes": sent, "seconds": seconds, "cpu": cpu,
                      "cipher": tls.cipher()[0] if tls_on else None}), flush=True)


def tls_handshake(ctx, sock, server):
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_side=server)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            if outgoing.pending:
                sock.sendall(outgoing.read())
            d = sock.recv(65536)
            if not d:
                raise SystemExit("link_floor: the peer closed in the handshake")
            incoming.write(d)
    if outgoing.pending:
        sock.sendall(outgoing.read())
    return tls, incoming, outgoing


# ------------------------------------------------------------------ steps

def stream(lab, workdir, total, send_size, tls_on, copy=False):
    """One stream A -> B; (sender cpu, receiver cpu, wall) in seconds.
    `copy`: plain TCP, each piece copied once more at each end (what Python's
    ssl adds to the TLS stream)."""
    certdir = os.path.join(workdir, "cert") if tls_on else ""
    log = os.path.join(workdir, "recv.log")
    with open(log, "w") as out:
        recv = subprocess.Popen(
            ["ip", "netns", "exec", netlab.NS_B, sys.executable, __file__, "recv",
             netlab.ADDR_B, str(PORT), str(total), str(256 << 10), certdir,
             "1" if copy else "0"],
            stdout=subprocess.PIPE, stderr=out, text=True)
    try:
        if recv.stdout.readline().strip() != "listening":
            raise SystemExit(f"link_floor: the receiver did not start (see {log})")
        send = subprocess.run(
            ["ip", "netns", "exec", netlab.NS_A, sys.executable, __file__, "send",
             netlab.ADDR_B, str(PORT), str(total), str(send_size), "1" if tls_on else "0",
             "1" if copy else "0"],
            capture_output=True, text=True, check=True)
        r = json.loads(recv.stdout.readline())
        recv.wait(timeout=30)
    finally:
        if recv.poll() is None:
            recv.kill()
    s = json.loads(send.stdout)
    if r["bytes"] < total:
        raise SystemExit(f"link_floor: the receiver got {r['bytes']} of {total} bytes")
    return s["cpu"], r["cpu"], max(s["seconds"], r["seconds"]), s.get("cipher")


def cipher_speed():
    """GB/s of AES-128-GCM on 16 KiB, encrypting and decrypting."""
    out = {}
    for way, extra in (("encrypt", []), ("decrypt", ["-decrypt"])):
        p = subprocess.run(["openssl", "speed", "-seconds", "2", *extra, "-evp",
                            "aes-128-gcm", "-bytes", "16384"],
                           capture_output=True, text=True, check=True)
        last = [ln for ln in p.stdout.splitlines() if ln.lower().startswith("aes-128-gcm")][-1]
        out[way] = float(last.split()[-1].rstrip("k")) * 1000 / 1e9
    return out


def files_cpu(ferry, workdir, runs):
    """CPU seconds per GiB of ferry sync on one machine, and its wall seconds."""
    src, dst = os.path.join(workdir, "src"), os.path.join(workdir, "dst")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_tree.py"), "--kind", "large",
                    "--scale", "0.5", "--out", src], check=True, capture_output=True)
    size = sum(os.path.getsize(os.path.join(d, f))
               for d, _, fs in os.walk(src) for f in fs)
    cpus, walls = [], []
    for _ in range(runs):
        shutil.rmtree(dst, ignore_errors=True)
        p = subprocess.run(["/usr/bin/time", "-f", "%e %U %S", ferry, "sync", src, dst,
                            "--verify-mode", "NONE", "--no-progress"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"link_floor: ferry sync failed: {p.stderr[-500:]}")
        wall, user, system = map(float, p.stderr.strip().splitlines()[-1].split())
        cpus.append((user + system) * GIB / size)
        walls.append(wall * GIB / size)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.rmtree(src, ignore_errors=True)
    return statistics.median(cpus), statistics.median(walls)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ferry", default=os.path.join(HERE, "..", "build", "ferry"))
    ap.add_argument("--gib", type=float, default=2.0, help="GiB per stream (default 2)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--root", default="/dev/shm/ferry-link-floor")
    ap.add_argument("--target-gbps", type=float, default=1.0)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("link_floor.py: run as root (it makes network namespaces)")
    for tool in ("openssl", "/usr/bin/time", "ip"):
        if not shutil.which(tool):
            sys.exit(f"link_floor.py: {tool} is missing (scripts/setup.sh bench)")
    ferry = os.path.abspath(args.ferry)
    cores = os.cpu_count()
    total = int(args.gib * GIB)
    os.makedirs(args.root, exist_ok=True)
    workdir = tempfile.mkdtemp(dir=args.root)
    try:
        measure(args, ferry, cores, total, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        try:
            os.rmdir(args.root)  # only if nothing else is in it
        except OSError:
            pass


def measure(args, ferry, cores, total, workdir):
    certdir = os.path.join(workdir, "cert")
    os.makedirs(certdir)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=link-floor", "-keyout", os.path.join(certdir, "key.pem"),
                    "-out", os.path.join(certdir, "cert.pem")],
                   check=True, capture_output=True)
    print(f"link floor {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}: "
          f"{cores} cores, {args.gib:g} GiB per stream, median of {args.runs}; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    lab = netlab.Lab(workdir, log=lambda m: print(m, flush=True))
    results = {}
    try:
        lab.up()
        for name, size, tls_on, copy in (
                ("tcp 16 KiB sends", 16 << 10, False, False),
                ("tcp 64 KiB sends", 64 << 10, False, False),
                ("tcp 256 KiB sends", 256 << 10, False, False),
                ("tcp 256 KiB, copies", 256 << 10, False, True),
                ("tls 256 KiB sends", 256 << 10, True, False)):
            runs = [stream(lab, workdir, total, size, tls_on, copy)
                    for _ in range(args.runs)]
            snd = statistics.median(x[0] for x in runs) * GIB / total
            rcv = statistics.median(x[1] for x in runs) * GIB / total
            wall = statistics.median(x[2] for x in runs) * GIB / total
            results[name] = (snd, rcv)
            cipher = f" ({runs[0][3]})" if runs[0][3] else ""
            print(f"  {name:20s} CPU per GiB: sender {snd:.2f} s + receiver {rcv:.2f} s = "
                  f"{snd + rcv:.2f} s; {GIB / wall / 1e9:.2f} GB/s{cipher}", flush=True)
    finally:
        lab.down()
    speed = cipher_speed()
    enc, dec = GIB / 1e9 / speed["encrypt"], GIB / 1e9 / speed["decrypt"]
    print(f"  {'cipher':20s} AES-128-GCM {speed['encrypt']:.2f} GB/s encrypting, "
          f"{speed['decrypt']:.2f} decrypting: {enc + dec:.2f} s of CPU per GiB", flush=True)
    fcpu, fwall = files_cpu(ferry, workdir, args.runs)
    print(f"  {'files':20s} ferry sync on one machine: {fcpu:.2f} s of CPU per GiB "
          f"({fwall:.2f} s wall)", flush=True)
    tcp = sum(results["tcp 256 KiB sends"])
    tls = sum(results["tls 256 KiB sends"])
    copies = sum(results["tcp 256 KiB, copies"]) - tcp
    record = tls - tcp - copies - enc - dec
    floor = fcpu + enc + dec + tcp
    measured = fcpu + tls
    budget = cores * GIB / (args.target_gbps * 1e9)
    print(f"\n  {args.target_gbps:g} GB/s on {cores} cores allows {budget:.2f} s of CPU per GiB, "
          "every core busy all the time")
    print(f"  floor = files + cipher both ways + tcp = {fcpu:.2f} + {enc + dec:.2f} + "
          f"{tcp:.2f} = {floor:.2f} s per GiB: at most {cores / floor * GIB / 1e9:.2f} GB/s")
    print(f"  files + the measured TLS stream = {fcpu:.2f} + {tls:.2f} = {measured:.2f} s per "
          f"GiB: at most {cores / measured * GIB / 1e9:.2f} GB/s")
    print(f"  left for everything else at {args.target_gbps:g} GB/s: "
          f"{budget - floor:.2f} s per GiB ({100 * (budget - floor) / budget:.0f}% of the cores)")
    print(f"  OpenSSL's record layer beyond the cipher = tls - tcp - Python's copies - cipher = "
          f"{tls:.2f} - {tcp:.2f} - {copies:.2f} - {enc + dec:.2f} = {record:.2f} s per GiB")
    print(f"  floor + that = {floor + record:.2f} s per GiB: at most "
          f"{cores / (floor + record) * GIB / 1e9:.2f} GB/s with nothing else")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "recv":
        helper_recv(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
                    sys.argv[6], sys.argv[7] == "1")
    elif len(sys.argv) > 1 and sys.argv[1] == "send":
        helper_send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
                    sys.argv[6] == "1", sys.argv[7] == "1")
    else:
        main()
