#!/usr/bin/env python3
"""A fault-injecting HTTP/1.1 proxy for S3 tests, between a client and an
S3 server (radosgw's HTTP endpoint), on 127.0.0.1. Standard library only.

    s3_fault_proxy.py --upstream 127.0.0.1:PORT [--port 0] [--control-port 0]

prints one JSON line when it listens, {"port": P, "control_port": C, "pid": N},
and runs until SIGTERM/SIGINT or until its standard input reaches end of
file when started with --stdin-eof-exits (so that it dies with the test that
holds the pipe). Point the client at http://127.0.0.1:P (path-style
addressing): requests and responses go through byte for byte (keep-alive,
`Expect: 100-continue`, chunked and large bodies streamed, never buffered
whole), except those a fault rule takes. Plain HTTP only: the proxy does not
terminate TLS.

Control interface: HTTP on 127.0.0.1:C, JSON in and out.

    POST /faults  {"action": "error", ...} or a list of them: add rules
    GET  /stats   what was seen (below)
    POST /reset   drop the rules and zero the statistics

A rule applies to the next `count` requests (default 1) that match it, in the
order rules were added, then is used up:

    "method": "PUT"            only this method (default: any)
    "match": "partNumber="     only request targets (path?query) containing
                               this substring (default: any)

    {"action": "error", "status": 503, "code": "SlowDown",
     "message": "Please reduce your request rate.", "close": false}
        answer with an S3 XML error instead of forwarding: the body of the
        request is read and dropped first (the connection stays usable,
        unless "close" is true); a request waiting for `100 Continue` gets
        the error at once and the connection is closed, as a server does.
        Defaults: 503 SlowDown.

    {"action": "cut", "after_bytes": 1048576}
        forward the request line, headers and the first after_bytes bytes of
        its body, then reset both connections (a connection cut mid-upload).
        Default after_bytes: 0.

GET /stats returns
    {"connections": client connections accepted,
     "upstream_connections": connections opened to the server,
     "requests": {"PUT": 3, ...} every request seen, per method,
     "forwarded": {...} those sent on to the server, per method,
     "injected": {"error": 1, "cut": 1},
     "log": [{"method", "target", "action" ("forward"|"error"|"cut"),
              "body_bytes" (forwarded, or read and dropped)}, ...],
     "rules": the rules not used up}

From Python in the same process: FaultProxy(host, port).start(), then
.add_rule(dict), .stats(), .reset(), .close().
"""

import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024
MAX_HEADER = 64 * 1024


class ClientGone(Exception):
    """The client closed its connection (between requests or mid-request)."""


class Reader:
    """Buffered reads from a socket: header blocks, exact byte counts, lines."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(CHUNK)
        if not data:
            raise ClientGone()
        self.buf += data

    def read_headers(self):
        """The bytes up to and including the blank line; None at a clean
        end of stream before any byte."""
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > MAX_HEADER:
                raise ValueError("header block too large")
            try:
                self._fill()
            except ClientGone:
                if not self.buf:
                    return None
                raise
        end = self.buf.index(b"\r\n\r\n") + 4
        block, self.buf = self.buf[:end], self.buf[end:]
        return block

    def read_some(self, limit):
        if not self.buf:
            self._fill()
        data, self.buf = self.buf[:limit], self.buf[limit:]
        return data

    def read_line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > MAX_HEADER:
                raise ValueError("line too long")
            self._fill()
        end = self.buf.index(b"\r\n") + 2
        line, self.buf = self.buf[:end], self.buf[end:]
        return line


def parse_head(block):
    lines = block.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return method, target, version, headers


def body_pieces(reader, headers):
    """The request body as it arrives, in raw wire pieces (chunked framing
    included), never more than CHUNK bytes at a time. Yields (piece,
    payload_bytes)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            line = reader.read_line()
            size = int(line.split(b";", 1)[0].strip(), 16)
            yield line, 0
            if size == 0:
                # Trailers, up to the blank line.
                while True:
                    trailer = reader.read_line()
                    yield trailer, 0
                    if trailer == b"\r\n":
                        return
            left = size
            while left > 0:
                piece = reader.read_some(min(left, CHUNK))
                left -= len(piece)
                yield piece, len(piece)
            yield reader.read_line(), 0  # the CRLF after the chunk
    else:
        left = int(headers.get("content-length", "0") or "0")
        while left > 0:
            piece = reader.read_some(min(left, CHUNK))
            left -= len(piece)
            yield piece, len(piece)


def reset(sock):
    """Closes with a TCP RST (SO_LINGER 0): a cut, not an orderly close."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class FaultProxy:
    def __init__(self, upstream_host, upstream_port, port=0, control_port=None):
        self.upstream = (upstream_host, upstream_port)
        self.lock = threading.Lock()
        self.rules = []
        self._zero()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.control = None
        if control_port is not None:
            self.control = ThreadingHTTPServer(("127.0.0.1", control_port), _control_handler(self))
            self.control.daemon_threads = True
        self.closed = False

    @property
    def control_port(self):
        return self.control.server_address[1] if self.control else None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def _zero(self):
        self.counters = {"connections": 0, "upstream_connections": 0, "requests": {},
                         "forwarded": {}, "injected": {}, "log": []}

    # -- rules and statistics

    def add_rule(self, rule):
        rule = dict(rule)
        action = rule.get("action")
        if action not in ("error", "cut"):
            raise ValueError(f"unknown action {action!r} (error or cut)")
        rule.setdefault("count", 1)
        if action == "error":
            rule.setdefault("status", 503)
            rule.setdefault("code", "SlowDown")
            rule.setdefault("message", "Please reduce your request rate.")
            rule.setdefault("close", False)
        else:
            rule.setdefault("after_bytes", 0)
        if int(rule["count"]) < 1:
            raise ValueError("count must be at least 1")
        with self.lock:
            self.rules.append(rule)

    def reset(self):
        with self.lock:
            self.rules = []
            self._zero()

    def stats(self):
        with self.lock:
            out = json.loads(json.dumps(self.counters))
            out["rules"] = [dict(r) for r in self.rules]
            return out

    def _take_rule(self, method, target):
        with self.lock:
            for rule in self.rules:
                if rule.get("method") and rule["method"].upper() != method.upper():
                    continue
                if rule.get("match") and rule["match"] not in target:
                    continue
                rule["count"] = int(rule["count"]) - 1
                if rule["count"] <= 0:
                    self.rules.remove(rule)
                return dict(rule)
        return None

    def _count(self, key, name, n=1):
        with self.lock:
            d = self.counters[key]
            d[name] = d.get(name, 0) + n

    def _log(self, method, target, action, body_bytes):
        with self.lock:
            self.counters["log"].append({"method": method, "target": target, "action": action,
                                         "body_bytes": body_bytes})

    # -- serving

    def start(self):
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()
        if self.control:
            threading.Thread(target=self.control.serve_forever, args=(0.05,),
                             name="proxy-control", daemon=True).start()
        return self

    def close(self):
        self.closed = True
        try:
            self.listener.close()
        except OSError:
            pass
        if self.control:
            self.control.shutdown()
            self.control.server_close()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.counters["connections"] += 1
            threading.Thread(target=self._serve, args=(client,), name="proxy-conn",
                             daemon=True).start()

    def _serve(self, client):
        conn = _Connection(self, client)
        try:
            conn.run()
        finally:
            conn.close()


class _Connection:
    """One client connection and the upstream connection it uses."""

    def __init__(self, proxy, client):
        self.proxy = proxy
        self.client = client
        self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = Reader(client)
        self.upstream = None
        self.pump = None
        self.send_lock = threading.Lock()  # writes to the client
        self.dead = False

    def close(self):
        for s in (self.upstream, self.client):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass

    def _send_client(self, data):
        with self.send_lock:
            self.client.sendall(data)

    def _open_upstream(self):
        if self.upstream is not None and not self.dead:
            return
        self.upstream = socket.create_connection(self.proxy.upstream, timeout=30)
        self.upstream.settimeout(None)
        self.upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.proxy.lock:
            self.proxy.counters["upstream_connections"] += 1
        self.pump = threading.Thread(target=self._pump, args=(self.upstream,),
                                     name="proxy-pump", daemon=True)
        self.pump.start()

    def _pump(self, upstream):
        """Server -> client, byte for byte. When the server closes, so does
        the client side: HTTP/1.1 has no other way to say it."""
        try:
            while True:
                data = upstream.recv(CHUNK)
                if not data:
                    break
                self._send_client(data)
        except OSError:
            pass
        self.dead = True
        try:
            self.client.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def run(self):
        try:
            while not self.dead:
                head = self.reader.read_headers()
                if head is None:
                    return
                method, target, version, headers = parse_head(head)
                self.proxy._count("requests", method)
                rule = self.proxy._take_rule(method, target)
                if rule is None:
                    self._forward(head, method, target, headers)
                elif rule["action"] == "error":
                    self.proxy._count("injected", "error")
                    if not self._inject_error(rule, method, target, version, headers):
                        return
                else:
                    self.proxy._count("injected", "cut")
                    self._cut(rule, head, method, target, headers)
                    return
                if headers.get("connection", "").lower() == "close":
                    # The client sends nothing more; the response still
                    # flows until the server closes.
                    if self.pump is not None:
                        self.pump.join()
                    return
        except (ClientGone, OSError, ValueError):
            return
        finally:
            if self.upstream is not None:
                try:
                    self.upstream.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                if self.pump is not None:
                    self.pump.join(timeout=30)

    def _forward(self, head, method, target, headers):
        self._open_upstream()
        self.proxy._count("forwarded", method)
        self.upstream.sendall(head)
        sent = 0
        try:
            for piece, payload in body_pieces(self.reader, headers):
                self.upstream.sendall(piece)
                sent += payload
        finally:
            self.proxy._log(method, target, "forward", sent)

    def _inject_error(self, rule, method, target, version, headers):
        """Answers with the rule's error; returns whether the connection
        goes on."""
        expects = headers.get("expect", "").lower() == "100-continue"
        has_body = (int(headers.get("content-length", "0") or "0") > 0
                    or "chunked" in headers.get("transfer-encoding", "").lower())
        dropped = 0
        close = bool(rule.get("close")) or headers.get("connection", "").lower() == "close"
        if has_body and expects:
            close = True  # the client will not send the body: the stream is undefined
        elif has_body:
            for _, payload in body_pieces(self.reader, headers):
                dropped += payload
        self.proxy._log(method, target, "error", dropped)
        path = target.split("?", 1)[0]
        request_id = f"ferry-fault-{os.getpid()}-{time.monotonic_ns()}"
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                f"<Error><Code>{_xml(rule['code'])}</Code>"
                f"<Message>{_xml(rule['message'])}</Message>"
                f"<Resource>{_xml(path)}</Resource>"
                f"<RequestId>{request_id}</RequestId></Error>").encode()
        reason = {500: "Internal Server Error", 503: "Service Unavailable",
                  400: "Bad Request", 403: "Forbidden", 404: "Not Found"}.get(
                      int(rule["status"]), "Error")
        lines = [f"HTTP/1.1 {int(rule['status'])} {reason}",
                 "Content-Type: application/xml",
                 f"Content-Length: {len(body)}",
                 f"x-amz-request-id: {request_id}",
                 "Connection: " + ("close" if close else "keep-alive"),
                 "", ""]
        response = "\r\n".join(lines).encode() + (b"" if method == "HEAD" else body)
        self._send_client(response)
        if close:
            self._lingering_close()
            return False
        return True

    def _lingering_close(self):
        """Ends the response stream and reads what the client still sends
        (briefly) before closing, so that closing does not reset the
        connection before the client has read the response."""
        try:
            self.client.shutdown(socket.SHUT_WR)
            self.client.settimeout(2)
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline and self.client.recv(CHUNK):
                pass
        except OSError:
            pass

    def _cut(self, rule, head, method, target, headers):
        self._open_upstream()
        self.proxy._count("forwarded", method)
        limit = int(rule["after_bytes"])
        self.upstream.sendall(head)
        sent = 0
        try:
            for piece, payload in body_pieces(self.reader, headers):
                if sent + payload >= limit:
                    # The wire piece up to the limit (chunk framing counts
                    # as sent with its chunk).
                    self.upstream.sendall(piece[:max(0, limit - sent)] if payload else piece)
                    sent = limit if payload else sent
                    break
                self.upstream.sendall(piece)
                sent += payload
        finally:
            self.proxy._log(method, target, "cut", sent)
            self.dead = True
            reset(self.upstream)
            reset(self.client)


def _xml(text):
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _control_handler(proxy):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _reply(self, status, obj):
            body = (json.dumps(obj) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/stats":
                self._reply(200, proxy.stats())
            else:
                self._reply(404, {"error": f"no {self.path}: GET /stats"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                if self.path == "/faults":
                    rules = json.loads(raw or b"null")
                    rules = rules if isinstance(rules, list) else [rules]
                    for rule in rules:
                        if not isinstance(rule, dict):
                            raise ValueError("a rule is a JSON object")
                        proxy.add_rule(rule)
                    self._reply(200, {"rules": proxy.stats()["rules"]})
                elif self.path == "/reset":
                    proxy.reset()
                    self._reply(200, {"reset": True})
                else:
                    self._reply(404, {"error": f"no {self.path}: POST /faults or /reset"})
            except (ValueError, TypeError) as e:
                self._reply(400, {"error": str(e)})

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream", required=True, help="HOST:PORT or http://HOST:PORT")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--stdin-eof-exits", action="store_true",
                    help="exit when standard input reaches end of file")
    args = ap.parse_args()
    upstream = args.upstream.split("://", 1)[-1].rstrip("/")
    host, _, port = upstream.rpartition(":")
    proxy = FaultProxy(host, int(port), port=args.port, control_port=args.control_port).start()
    print(json.dumps({"port": proxy.port, "control_port": proxy.control_port,
                      "pid": os.getpid()}), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    if args.stdin_eof_exits:
        def watch():
            while sys.stdin.buffer.read(4096):
                pass
            done.set()
        threading.Thread(target=watch, daemon=True).start()
    done.wait()
    proxy.close()


if __name__ == "__main__":
    main()
