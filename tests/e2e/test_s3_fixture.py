"""The S3 test fixture itself: the radosgw that tests/support/radosgw.sh
starts (HTTP and HTTPS endpoints, the private CA, real SigV4 checking, AWS's
multipart ETags) and the fault-injecting proxy tests/support/s3_fault_proxy.py
(injected 503 SlowDown, connection cuts mid-upload, byte-for-byte forwarding,
request counts), driven with boto3 and the aws CLI.

Under ctest the ferry_radosgw fixture provides the server; run by hand, s3.py
starts one for the module (about 2 s) and stops it at the end.
"""

import hashlib
import http.client
import http.server
import json
import os
import ssl
import threading
import unittest
import urllib.parse

import botocore.exceptions

import s3

MiB = 1024 * 1024


def setUpModule():
    s3.server()


def tearDownModule():
    s3.stop_own_server()


def error_code(e):
    return e.response.get("Error", {}).get("Code")


class EchoServer:
    """An HTTP/1.1 server on 127.0.0.1 that answers each request with the
    SHA-256 of its body (chunked or not), keeping connections alive."""

    def __init__(self, testcase):
        outer = self
        self.transfer_encodings = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_PUT(self):
                outer.transfer_encodings.append(self.headers.get("Transfer-Encoding"))
                h = hashlib.sha256()
                if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b""):
                                pass
                            break
                        h.update(self.rfile.read(size))
                        self.rfile.readline()
                else:
                    h.update(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                body = h.hexdigest().encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        testcase.addCleanup(self.close)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Endpoints(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = s3.server()
        cls.bucket = cls.server.fresh_bucket(cls, "endpoints")

    def test_http_round_trip_boto3_and_cli(self):
        c = self.server.client()
        c.put_object(Bucket=self.bucket, Key="dir/a.txt", Body=b"over http")
        self.assertEqual(c.get_object(Bucket=self.bucket, Key="dir/a.txt")["Body"].read(),
                         b"over http")
        p = self.server.aws(["s3api", "list-objects-v2", "--bucket", self.bucket,
                             "--prefix", "dir/", "--output", "json"])
        keys = [o["Key"] for o in json.loads(p.stdout)["Contents"]]
        self.assertEqual(keys, ["dir/a.txt"])

    def test_https_with_the_private_ca(self):
        c = self.server.client(https=True)
        c.put_object(Bucket=self.bucket, Key="b", Body=b"over https")
        self.assertEqual(c.get_object(Bucket=self.bucket, Key="b")["Body"].read(), b"over https")
        p = self.server.aws(["s3api", "head-object", "--bucket", self.bucket, "--key", "b",
                             "--output", "json"], https=True)
        self.assertEqual(json.loads(p.stdout)["ContentLength"], 10)
        # The certificate names localhost too.
        port = urllib.parse.urlsplit(self.server.https_endpoint).port
        c = self.server.client(endpoint=f"https://localhost:{port}")
        self.assertEqual(c.get_object(Bucket=self.bucket, Key="b")["Body"].read(), b"over https")

    def test_https_without_the_ca_fails_verification(self):
        p = self.server.aws(["s3api", "list-buckets"], https=True, ca_bundle=False, attempts=1,
                            check=False)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("CERTIFICATE_VERIFY_FAILED", p.stderr)
        c = self.server.client(https=True, verify=True, max_attempts=1)
        with self.assertRaises(botocore.exceptions.SSLError):
            c.list_buckets()
        # The certificate is the server's, and the CA is not a system one.
        ctx = ssl.create_default_context(cafile=self.server.ca_file)
        host, port = urllib.parse.urlsplit(self.server.https_endpoint).netloc.split(":")
        conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
        conn.request("GET", "/")  # anonymous ListBuckets: an empty list
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertIn(b"ListAllMyBucketsResult", r.read())
        conn.close()

    def test_wrong_secret_is_refused(self):
        c = self.server.client(secret_key="x" * 40, max_attempts=1)
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            c.list_objects_v2(Bucket=self.bucket)
        self.assertEqual(error_code(cm.exception), "SignatureDoesNotMatch")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        # The aws CLI fails too. It prints "argument of type 'NoneType' is not
        # iterable" for radosgw's errors (an empty <Message/>); its debug
        # log holds the response.
        p = self.server.aws(["--debug", "s3api", "list-objects-v2", "--bucket", self.bucket],
                            secret_key="y" * 40, attempts=1, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("<Code>SignatureDoesNotMatch</Code>", p.stderr)

    def test_multipart_upload_of_three_parts(self):
        c = self.server.client()
        parts_data = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(123_457)]
        up = c.create_multipart_upload(Bucket=self.bucket, Key="big")
        parts = []
        for n, data in enumerate(parts_data, 1):
            r = c.upload_part(Bucket=self.bucket, Key="big", UploadId=up["UploadId"],
                              PartNumber=n, Body=data)
            self.assertEqual(r["ETag"].strip('"'), hashlib.md5(data).hexdigest())
            parts.append({"PartNumber": n, "ETag": r["ETag"]})
        r = c.complete_multipart_upload(Bucket=self.bucket, Key="big", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": parts})
        # AWS's multipart ETag: MD5 of the parts' binary MD5s, then -N.
        expected = hashlib.md5(b"".join(hashlib.md5(d).digest() for d in parts_data)).hexdigest()
        # radosgw 16 answers CompleteMultipartUpload with an empty <ETag/>
        # (a known radosgw bug, fixed in later releases); HEAD has it.
        self.assertIn(r["ETag"].strip('"'), ("", f"{expected}-3"))
        self.assertEqual(c.head_object(Bucket=self.bucket, Key="big")["ETag"].strip('"'),
                         f"{expected}-3")
        body = c.get_object(Bucket=self.bucket, Key="big")["Body"].read()
        self.assertEqual(hashlib.sha256(body).digest(),
                         hashlib.sha256(b"".join(parts_data)).digest())

    def test_cleanup_aborts_multipart_uploads(self):
        c = self.server.client()
        name = self.server.fresh_bucket(prefix="cleanup")
        c.put_object(Bucket=name, Key="k", Body=b"v")
        c.create_multipart_upload(Bucket=name, Key="unfinished")
        self.server.delete_bucket(name)
        names = [b["Name"] for b in c.list_buckets()["Buckets"]]
        self.assertNotIn(name, names)
        self.server.delete_bucket(name)  # gone already: fine


class Proxy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = s3.server()
        cls.bucket = cls.server.fresh_bucket(cls, "proxy")
        cls.proxy = s3.FaultProxy.start(cls.server, cls)

    def setUp(self):
        self.proxy.reset()

    def test_forwards_byte_for_byte_on_kept_alive_connections(self):
        c = self.server.client(endpoint=self.proxy.url)
        data = os.urandom(9 * MiB + 17)
        c.put_object(Bucket=self.bucket, Key="big", Body=data)
        for i in range(5):
            c.put_object(Bucket=self.bucket, Key=f"small{i}", Body=b"x" * i)
        got = c.get_object(Bucket=self.bucket, Key="big")["Body"].read()
        self.assertEqual(hashlib.sha256(got).digest(), hashlib.sha256(data).digest())
        st = self.proxy.stats()
        self.assertEqual(st["requests"], {"PUT": 6, "GET": 1})
        self.assertEqual(st["forwarded"], st["requests"])
        self.assertEqual(st["injected"], {})
        self.assertEqual(st["connections"], 1, st)  # keep-alive through the proxy
        self.assertEqual(st["upstream_connections"], 1, st)
        self.assertEqual(st["log"][0]["body_bytes"], len(data))

    def test_forwards_chunked_request_bodies(self):
        # radosgw refuses chunked uploads (411 MissingContentLength), so a
        # local echo server is the upstream here: two chunked requests on
        # one connection arrive whole, each answered with its body's hash.
        upstream = EchoServer(self)
        proxy = s3.FaultProxy.start(self.server, self, upstream=upstream.url)
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
        for n in range(2):
            parts = [os.urandom(100_000), os.urandom(1), os.urandom(70_000 + n)]
            conn.request("PUT", f"/echo{n}", body=iter(parts), encode_chunked=True)
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.read().decode(), hashlib.sha256(b"".join(parts)).hexdigest())
        conn.close()
        st = proxy.stats()
        self.assertEqual(st["connections"], 1)
        self.assertEqual([e["body_bytes"] for e in st["log"]], [170_001, 170_002])
        self.assertEqual(upstream.transfer_encodings, ["chunked", "chunked"])

    def test_injected_slowdown_is_retried_by_boto3(self):
        c = self.server.client(endpoint=self.proxy.url, max_attempts=3)
        self.proxy.add(action="error", method="PUT", match="/retried")
        r = c.put_object(Bucket=self.bucket, Key="retried", Body=b"after one 503")
        self.assertEqual(r["ResponseMetadata"]["RetryAttempts"], 1)
        st = self.proxy.stats()
        self.assertEqual(st["requests"]["PUT"], 2)  # the 503 and the retry
        self.assertEqual(st["forwarded"]["PUT"], 1)
        self.assertEqual(st["injected"], {"error": 1})
        self.assertEqual(st["rules"], [])
        self.assertEqual([e["action"] for e in st["log"]], ["error", "forward"])
        self.assertEqual(self.server.client().get_object(Bucket=self.bucket, Key="retried")[
            "Body"].read(), b"after one 503")

    def test_injected_slowdown_without_retries_is_seen_as_slowdown(self):
        c = self.server.client(endpoint=self.proxy.url, max_attempts=1)
        up = c.create_multipart_upload(Bucket=self.bucket, Key="mp")
        self.proxy.add(action="error", method="PUT", match="uploadId=", count=2)
        for _ in range(2):
            with self.assertRaises(botocore.exceptions.ClientError) as cm:
                c.upload_part(Bucket=self.bucket, Key="mp", UploadId=up["UploadId"],
                              PartNumber=1, Body=os.urandom(MiB))
            self.assertEqual(error_code(cm.exception), "SlowDown")
            self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 503)
        # Used up: the third goes through, on the same connection when the
        # client did not wait for 100 Continue.
        r = c.upload_part(Bucket=self.bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1,
                          Body=b"p" * 100)
        self.assertTrue(r["ETag"])
        st = self.proxy.stats()
        self.assertEqual(st["requests"], {"POST": 1, "PUT": 3})
        self.assertEqual(st["injected"], {"error": 2})

    def test_cut_mid_upload_is_a_connection_error(self):
        c = self.server.client(endpoint=self.proxy.url, max_attempts=1)
        up = c.create_multipart_upload(Bucket=self.bucket, Key="cut")
        self.proxy.add(action="cut", method="PUT", match="partNumber=1", after_bytes=MiB)
        data = os.urandom(6 * MiB)
        # botocore: ConnectionClosedError ("Connection was closed before we
        # received a valid response"); never an HTTP status.
        with self.assertRaises((botocore.exceptions.ConnectionClosedError,
                                botocore.exceptions.ConnectionError)):
            c.upload_part(Bucket=self.bucket, Key="cut", UploadId=up["UploadId"], PartNumber=1,
                          Body=data)
        st = self.proxy.stats()
        self.assertEqual(st["injected"], {"cut": 1})
        cut = [e for e in st["log"] if e["action"] == "cut"]
        self.assertEqual(len(cut), 1)
        self.assertEqual(cut[0]["body_bytes"], MiB)
        # The server kept no part, and the upload goes on after the cut.
        self.assertEqual(self.server.client().list_parts(
            Bucket=self.bucket, Key="cut", UploadId=up["UploadId"]).get("Parts", []), [])
        r = c.upload_part(Bucket=self.bucket, Key="cut", UploadId=up["UploadId"], PartNumber=1,
                          Body=data)
        c.complete_multipart_upload(Bucket=self.bucket, Key="cut", UploadId=up["UploadId"],
                                    MultipartUpload={"Parts": [{"PartNumber": 1,
                                                                "ETag": r["ETag"]}]})
        got = self.server.client().get_object(Bucket=self.bucket, Key="cut")["Body"].read()
        self.assertEqual(hashlib.sha256(got).digest(), hashlib.sha256(data).digest())

    def test_cli_through_the_proxy_with_a_slowdown(self):
        self.proxy.add(action="error", method="GET", match="list-type=2")
        p = self.server.aws(["s3api", "list-objects-v2", "--bucket", self.bucket],
                            endpoint=self.proxy.url)
        self.assertEqual(p.returncode, 0)
        st = self.proxy.stats()
        self.assertEqual(st["requests"]["GET"], 2)
        self.assertEqual(st["injected"], {"error": 1})

    def test_control_interface_rejects_bad_rules(self):
        import urllib.error
        with self.assertRaises(urllib.error.HTTPError) as cm:
            self.proxy.add(action="explode")
        self.assertEqual(cm.exception.code, 400)
        self.proxy.add(action="cut", method="DELETE")
        self.assertEqual(len(self.proxy.stats()["rules"]), 1)
        self.proxy.reset()
        st = self.proxy.stats()
        self.assertEqual((st["rules"], st["requests"]), ([], {}))


if __name__ == "__main__":
    unittest.main()
