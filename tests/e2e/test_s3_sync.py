"""End-to-end: `ferry sync` with s3:// locations against a real radosgw.

A local tree (nested and empty folders, an empty file, a file past the
multipart threshold, odd UTF-8 names, symlinks, modes, owners, nanosecond
mtimes) goes to S3 and back, and must come back identical; what ferry wrote is
read back with the aws CLI (keys, folder markers, sizes, user metadata,
multipart ETags, bytes); changes, metadata-only changes and deletes against a
bucket; S3 to S3, and object tags from bucket to bucket (ObjectTags PRESERVE
and NONE); every way opening a location fails (bad keys, missing
bucket, nothing listening, an unverified certificate, an invalid name) ends
quickly with a message naming the location; faults through
tests/support/s3_fault_proxy.py (503 SlowDown, connections cut mid-body, a
persistent 403) are retried or fail cleanly, and no partial object is ever
visible under its final key; one round trip over HTTPS with the private CA.

Under ctest the ferry_radosgw fixture provides the server; by hand:

    cd tests/e2e && FERRY_BIN=$PWD/../../build-asan/ferry python3 -m unittest -v test_s3_sync
"""

import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import time
import unittest
import urllib.parse

import botocore.exceptions

import oracle
import s3
from oracle import FerryTestCase

MiB = 1 << 20
# ferry's part size: 16 MiB preferred (object_backend.h), rounded to whole
# MiB, over S3's 5 MiB minimum (storage/backend.cc PartSize). A file larger
# than one part is a multipart upload of parts that size.
PART = 16 * MiB
# radosgw frees what is deleted only at its garbage collection, two hours
# later: the memstore OSD (1 GiB) of a ctest run keeps everything every
# module wrote, twice over. So multipart files are as small as they can be:
BIG = 2 * PART + MiB + 12345  # the round trip's: 3 parts (16 + 16 + 1 MiB and a bit)
TWO_PARTS = PART + 64 * 1024 + 7  # elsewhere: 2 parts
# Opening a location that cannot work must fail, not retry for long.
FAIL_FAST_S = 60

FILE_MODE_KEYS = ("file-permissions", "file-mtime", "file-owner", "file-group")


def setUpModule():
    s3.server()


def tearDownModule():
    s3.stop_own_server()


# --------------------------------------------------------------------------
# Helpers


def ferry_env(server, **changes):
    """ferry's environment: the server's keys and region, nothing from the
    machine's AWS configuration (no profile, no AWS_CA_BUNDLE); `changes`
    set variables (None removes one)."""
    env = server.aws_env()
    for k, v in changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def s3sync(src, dst, *opts, endpoint=None, env=None, timeout=180, server=None):
    """`ferry sync SRC DST --endpoint-url URL OPTS... --json`."""
    server = server or s3.server()
    endpoint = endpoint or server.endpoint
    return oracle.sync(src, dst, "--endpoint-url", endpoint, *opts,
                       env=env or ferry_env(server), timeout=timeout)


def s3url(bucket, prefix=""):
    return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


def cli_json(server, args, **kw):
    p = server.aws(list(args) + ["--output", "json"], **kw)
    return json.loads(p.stdout) if p.stdout.strip() else {}


def cli_objects(server, bucket, prefix=""):
    """{key: list-objects-v2 entry} as the aws CLI lists the bucket."""
    args = ["s3api", "list-objects-v2", "--bucket", bucket]
    if prefix:
        args += ["--prefix", prefix]
    return {o["Key"]: o for o in cli_json(server, args).get("Contents") or []}


def cli_uploads(server, bucket):
    """The multipart uploads in progress, as `aws s3api list-multipart-uploads`
    shows them: [(key, upload id)]."""
    out = cli_json(server, ["s3api", "list-multipart-uploads", "--bucket", bucket])
    return [(u["Key"], u["UploadId"]) for u in out.get("Uploads") or []]


def boto_objects(server, bucket, prefix=""):
    c = server.client()
    out = {}
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = o
    return out


def get_bytes(server, bucket, key):
    return server.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def head(server, bucket, key):
    return server.client().head_object(Bucket=bucket, Key=key)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def multipart_etag(data, part):
    """AWS's ETag of an object uploaded in parts of `part` bytes: the MD5 of
    the parts' binary MD5s, then -N."""
    pieces = [data[i:i + part] for i in range(0, len(data), part)]
    md5s = b"".join(hashlib.md5(p).digest() for p in pieces)
    return f"{hashlib.md5(md5s).hexdigest()}-{len(pieces)}"


def expected_metadata(st, digest=None):
    """The user metadata ferry writes for an entry with lstat `st`."""
    md = {"file-permissions": "0%o" % st.st_mode,
          "file-mtime": f"{st.st_mtime_ns}ns",
          "file-owner": str(st.st_uid),
          "file-group": str(st.st_gid)}
    if digest is not None:
        md["ferry-digest"] = digest
    return md


def expected_keys(root, prefix):
    """{key: rel} of what a tree at `root` becomes under `prefix` ("" or
    "p/q"): files and links as prefix/rel, folders as prefix/rel/ markers,
    and the root's marker prefix/ when there is a prefix."""
    base = prefix + "/" if prefix else ""
    keys = {}
    for rel, st in oracle.walk(root).items():
        name = os.fsdecode(rel)
        if rel == b"":
            if prefix:
                keys[base] = rel
        elif stat.S_ISDIR(st.st_mode):
            keys[base + name + "/"] = rel
        else:
            keys[base + name] = rel
    return keys


def free_port():
    """A port on 127.0.0.1 nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ODD_NAMES = ["with space.txt", "ünïcødé-日本語.txt", "plus+sign.txt", "per%cent%20.txt",
             "hash#tag.txt", "question?.txt", "amp&eq=semi;colon.txt",
             "brackets[1](2){3}.txt", "tilde~ 'quote' \"dq\".txt", "-leading-dash",
             "emoji-\U0001F600.txt"]


def make_round_trip_tree(root, seed=7):
    """The tree of the round trip; returns {"files", "folders", "bytes",
    "big": the big file's content}."""
    import random
    rng = random.Random(seed)
    owner_a = (1234, 5678) if oracle.is_root() else None
    os.makedirs(os.path.join(root, "a", "b", "c"))
    os.makedirs(os.path.join(root, "empty dir"))
    os.makedirs(os.path.join(root, "names", "sub dir ü"))
    big = rng.randbytes(BIG)

    def t():
        return oracle.random_mtime_ns(rng)

    oracle.write_file(os.path.join(root, "a", "b", "c", "deep.txt"), b"deep down\n",
                      mode=0o640, mtime_ns=t(), owner=owner_a)
    # "a/" sorts between "a.txt" and "a0" in key order.
    oracle.write_file(os.path.join(root, "a.txt"), b"a dot txt\n", mode=0o644, mtime_ns=t())
    oracle.write_file(os.path.join(root, "a0"), b"a zero\n", mode=0o600, mtime_ns=t())
    oracle.write_file(os.path.join(root, "empty.bin"), b"", mode=0o600, mtime_ns=t())
    oracle.write_file(os.path.join(root, "big.bin"), big, mode=0o644, mtime_ns=t())
    oracle.write_file(os.path.join(root, "run.sh"), b"#!/bin/sh\necho hi\n", mode=0o755,
                      mtime_ns=t())
    for i, name in enumerate(ODD_NAMES):
        oracle.write_file(os.path.join(root, "names", name), rng.randbytes(100 + i),
                          mode=0o644, mtime_ns=t(),
                          owner=(4321, 8765) if oracle.is_root() and i % 2 else None)
    oracle.write_file(os.path.join(root, "names", "sub dir ü", "x#y?z.txt"), b"nested odd\n",
                      mode=0o640, mtime_ns=t())
    os.symlink("a/b/c/deep.txt", os.path.join(root, "link-to-deep"))
    os.symlink("../nowhere/at all", os.path.join(root, "names", "dangling link"))
    for rel in ("link-to-deep", "names/dangling link"):
        oracle.set_times(os.path.join(root, rel), t())
    if owner_a:
        os.lchown(os.path.join(root, "link-to-deep"), *owner_a)
        os.lchown(os.path.join(root, "a"), *owner_a)
    for rel, mode in (("a/b/c", 0o755), ("a/b", 0o750), ("a", 0o700), ("empty dir", 0o700),
                      ("names/sub dir ü", 0o755), ("names", 0o755), ("", 0o755)):
        p = os.path.join(root, rel) if rel else root
        os.chmod(p, mode)
        oracle.set_times(p, t())
    stats = oracle.tree_stats(root)
    stats["big"] = big
    return stats


class _ClassCleanup:
    """Lets oracle.make_scratch register a class-level cleanup."""

    def __init__(self, cls):
        self.cls = cls

    def addCleanup(self, fn, *args):
        self.cls.addClassCleanup(fn, *args)


class S3TestCase(FerryTestCase):
    def assertFinishedWithin(self, start, seconds, run):
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, seconds, f"ferry took {elapsed:.1f} s: " + run.describe())

    def assertNoUploads(self, bucket):
        self.assertEqual(cli_uploads(self.server, bucket), [])


# --------------------------------------------------------------------------
# 1, 2: local -> S3 -> local, and what ferry wrote as the aws CLI sees it


class RoundTrip(S3TestCase):
    """One tree uploaded under a prefix (SHA-256 digests, so that
    ferry-digest can be checked with hashlib), then downloaded into a fresh
    folder."""

    PREFIX = "backup/run 1"

    @classmethod
    def setUpClass(cls):
        cls.server = s3.server()
        cls.bucket = cls.server.fresh_bucket(cls, "roundtrip")
        base = oracle.make_scratch(_ClassCleanup(cls))
        cls.src = os.path.join(base, "src")
        cls.dst = os.path.join(base, "dst")
        cls.stats = make_round_trip_tree(cls.src)
        cls.url = s3url(cls.bucket, cls.PREFIX)
        cls.up = s3sync(cls.src, cls.url, "--checksum-algorithm", "SHA-256")
        cls.down = s3sync(cls.url, cls.dst, "--checksum-algorithm", "SHA-256")

    def test_upload_and_download_succeed(self):
        for run in (self.up, self.down):
            self.assertSuccess(run)
            self.assertNoFailures(run)
        files, folders = self.stats["files"], self.stats["folders"] - 1
        self.assertEqual(self.up["FilesTransferred"], files, self.up.describe())
        self.assertEqual(self.up["FoldersTransferred"], folders)
        self.assertEqual(self.up["FilesVerified"], files)
        self.assertEqual(self.down["FilesListed.AtSource"], files)
        self.assertEqual(self.down["FoldersListed.AtSource"], folders)
        self.assertEqual(self.down["FilesTransferred"], files)
        self.assertEqual(self.down["FoldersTransferred"], folders)
        for run in (self.up, self.down):
            self.assertEqual(run["BytesWritten"], self.stats["bytes"], run.describe())

    def test_the_tree_comes_back_identical(self):
        # Content, types, link targets, modes, owners, mtimes to the
        # nanosecond (file-mtime keeps them), the empty folder, the root.
        self.assertTreesEqual(self.src, self.dst)
        self.assertRsyncClean(self.src, self.dst)
        # Guard the test itself: the tree is what it is meant to be.
        self.assertTrue(os.path.isdir(os.path.join(self.dst, "empty dir")))
        self.assertEqual(os.readlink(os.path.join(self.dst, "link-to-deep")), "a/b/c/deep.txt")
        self.assertEqual(os.path.getsize(os.path.join(self.dst, "big.bin")), BIG)
        if oracle.is_root():
            self.assertEqual(os.lstat(os.path.join(self.dst, "a", "b", "c", "deep.txt")).st_uid,
                             1234)

    def test_second_runs_transfer_nothing(self):
        for src, dst in ((self.src, self.url), (self.url, self.dst)):
            r = s3sync(src, dst, "--checksum-algorithm", "SHA-256")
            self.assertSuccess(r)
            self.assertEqual(r["FilesTransferred"], 0, r.describe())
            self.assertEqual(r["FoldersTransferred"], 0, r.describe())
            self.assertEqual(r["BytesWritten"], 0)

    def test_keys_as_the_cli_lists_them(self):
        listed = cli_objects(self.server, self.bucket)
        expected = expected_keys(self.src, self.PREFIX)
        self.assertEqual(sorted(listed), sorted(expected))
        for key, rel in expected.items():
            st = oracle.lstat_rel(self.src, rel)
            if key.endswith("/"):
                want = 0  # folder markers are empty
            elif stat.S_ISLNK(st.st_mode):
                want = len(os.readlink(os.path.join(os.fsencode(self.src), rel)))
            else:
                want = st.st_size
            self.assertEqual(listed[key]["Size"], want, key)
        # Single-PUT objects: the ETag is the MD5 of the content.
        for rel in (b"a.txt", b"names/hash#tag.txt", b"empty.bin"):
            with open(os.path.join(os.fsencode(self.src), rel), "rb") as f:
                md5 = hashlib.md5(f.read()).hexdigest()
            self.assertEqual(listed[self.PREFIX + "/" + rel.decode()]["ETag"].strip('"'), md5)

    def test_metadata_as_head_object_shows_it(self):
        # Every object's user metadata (boto3), a few through the aws CLI.
        src = os.fsencode(self.src)
        for key, rel in expected_keys(self.src, self.PREFIX).items():
            st = oracle.lstat_rel(self.src, rel)
            digest = None
            if stat.S_ISREG(st.st_mode):
                digest = "SHA-256:" + oracle.digest_rel(self.src, rel)
            md = head(self.server, self.bucket, key)["Metadata"]
            want = expected_metadata(st, digest)
            got = {k: md.get(k) for k in want}
            self.assertEqual(got, want, key)
            self.assertEqual(md.get("user-agent"), "ferry", key)
            if not stat.S_ISREG(st.st_mode):
                self.assertNotIn("ferry-digest", md, key)
        for rel in (b"names/question?.txt", b"empty dir", b"link-to-deep", b"a/b/c/deep.txt"):
            st = oracle.lstat_rel(self.src, rel)
            key = f"{self.PREFIX}/{rel.decode()}" + ("/" if stat.S_ISDIR(st.st_mode) else "")
            out = cli_json(self.server, ["s3api", "head-object", "--bucket", self.bucket,
                                         "--key", key])
            self.assertEqual(out["Metadata"]["file-permissions"], "0%o" % st.st_mode, key)
            self.assertEqual(out["Metadata"]["file-mtime"], f"{st.st_mtime_ns}ns", key)
            self.assertEqual(out["Metadata"]["file-owner"], str(st.st_uid), key)
            self.assertEqual(out["Metadata"]["file-group"], str(st.st_gid), key)
        # The modes are the ones the tree was made with.
        md = head(self.server, self.bucket, self.PREFIX + "/a0")["Metadata"]
        self.assertEqual(md["file-permissions"], "0100600")
        md = head(self.server, self.bucket, self.PREFIX + "/run.sh")["Metadata"]
        self.assertEqual(md["file-permissions"], "0100755")
        md = head(self.server, self.bucket, self.PREFIX + "/a/")["Metadata"]
        self.assertEqual(md["file-permissions"], "040700")
        md = head(self.server, self.bucket, self.PREFIX + "/link-to-deep")["Metadata"]
        self.assertEqual(md["file-permissions"], "0120777")
        self.assertEqual(get_bytes(self.server, self.bucket, self.PREFIX + "/link-to-deep"),
                         b"a/b/c/deep.txt")
        if oracle.is_root():
            self.assertEqual((md["file-owner"], md["file-group"]), ("1234", "5678"))

    def test_the_big_file_is_a_multipart_object(self):
        key = self.PREFIX + "/big.bin"
        out = cli_json(self.server, ["s3api", "head-object", "--bucket", self.bucket,
                                     "--key", key])
        self.assertEqual(out["ContentLength"], BIG)
        self.assertEqual(out["ETag"].strip('"'), multipart_etag(self.stats["big"], PART))
        self.assertEqual(out["Metadata"]["ferry-digest"], "SHA-256:" + sha256(self.stats["big"]))

    def test_aws_s3_cp_gives_the_same_bytes(self):
        out = os.path.join(oracle.make_scratch(self), "got")
        for rel in ("big.bin", "names/ünïcødé-日本語.txt", "names/sub dir ü/x#y?z.txt"):
            self.server.aws(["s3", "cp", "--only-show-errors",
                             f"s3://{self.bucket}/{self.PREFIX}/{rel}", out])
            self.assertEqual(oracle.file_digest(out), oracle.file_digest(
                os.path.join(self.src, rel)), rel)

    def test_no_multipart_upload_is_left(self):
        self.assertNoUploads(self.bucket)


class RoundTripHttps(S3TestCase):
    """7: the same over HTTPS, trusting the private CA (--ca-bundle, or
    AWS_CA_BUNDLE as the aws CLI reads it)."""

    def setUp(self):
        self.server = s3.server()
        self.bucket = self.server.fresh_bucket(self, "https")
        base = self.scratch()
        self.src = os.path.join(base, "src")
        os.makedirs(os.path.join(self.src, "d", "empty"))
        oracle.write_file(os.path.join(self.src, "small #1.txt"), b"tls\n", mode=0o600,
                          mtime_ns=1_500_000_000_987_654_321)
        os.symlink("d/two-parts.bin", os.path.join(self.src, "ln"))
        self.base = base

    def test_round_trip_with_the_ca_bundle(self):
        oracle.write_file(os.path.join(self.src, "d", "two-parts.bin"), os.urandom(TWO_PARTS),
                          mode=0o640, mtime_ns=1_600_000_000_123_456_789)
        oracle.set_times(os.path.join(self.src, "d"), 1_600_000_000_000_000_003)
        url = s3url(self.bucket, "tls")
        dst = os.path.join(self.base, "dst")
        for a, b in ((self.src, url), (url, dst)):
            r = s3sync(a, b, "--ca-bundle", self.server.ca_file,
                       endpoint=self.server.https_endpoint)
            self.assertSuccess(r)
            self.assertNoFailures(r)
        self.assertTreesEqual(self.src, dst)
        self.assertEqual(head(self.server, self.bucket, "tls/d/two-parts.bin")["ETag"]
                         .strip('"')[-2:], "-2")
        self.assertNoUploads(self.bucket)

    def test_aws_ca_bundle_from_the_environment(self):
        url = s3url(self.bucket, "env")
        r = s3sync(self.src, url, endpoint=self.server.https_endpoint,
                   env=ferry_env(self.server, AWS_CA_BUNDLE=self.server.ca_file))
        self.assertSuccess(r)
        self.assertEqual(get_bytes(self.server, self.bucket, "env/small #1.txt"), b"tls\n")


# --------------------------------------------------------------------------
# 3: changes against a bucket


class Changes(S3TestCase):
    """A small tree synced to a fresh bucket, then changed. The runs after
    the first go through the fault proxy (no faults), which counts what
    ferry asks for."""

    def setUp(self):
        self.server = s3.server()
        self.bucket = self.server.fresh_bucket(self, "changes")
        self.proxy = s3.FaultProxy.start(self.server, self)
        base = self.scratch()
        self.src = os.path.join(base, "src")
        for d in ("keep", "doomed/inner", "empty-doomed"):
            os.makedirs(os.path.join(self.src, d))
        self.files = {"same_size.txt": 5000, "chmod.txt": 100, "keep/k.txt": 10,
                      "gone.txt": 700, "doomed/f1": 1, "doomed/inner/f2": 2}
        for rel, size in self.files.items():
            oracle.write_file(os.path.join(self.src, rel), os.urandom(size), mode=0o644,
                              mtime_ns=1_600_000_000_123_456_789)
        os.symlink("f1", os.path.join(self.src, "doomed", "inner", "ln"))
        self.url = s3url(self.bucket, "p")
        first = s3sync(self.src, self.url)
        self.assertSuccess(first)
        self.assertEqual(first["FilesTransferred"], len(self.files) + 1)
        self.proxy.reset()

    def sync_via_proxy(self, *opts):
        return s3sync(self.src, self.url, *opts, endpoint=self.proxy.url)

    def writes(self):
        """The requests that change something, as (method, target, bytes)."""
        return [(e["method"], e["target"], e["body_bytes"]) for e in self.proxy.stats()["log"]
                if e["method"] not in ("GET", "HEAD")]

    def test_no_change_transfers_nothing_and_writes_nothing(self):
        r = self.sync_via_proxy()
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 0, r.describe())
        self.assertEqual(r["FoldersTransferred"], 0)
        self.assertEqual(r["BytesWritten"], 0)
        self.assertEqual(r["EstimatedFilesToTransfer"], 0)
        self.assertEqual(self.writes(), [])

    def test_same_size_change_is_found_and_sent(self):
        new = os.urandom(5000)
        oracle.write_file(os.path.join(self.src, "same_size.txt"), new,
                          mtime_ns=1_650_000_000_000_000_001)
        r = self.sync_via_proxy()
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 1, r.describe())
        self.assertEqual(r["BytesWritten"], 5000)
        self.assertEqual(get_bytes(self.server, self.bucket, "p/same_size.txt"), new)
        md = head(self.server, self.bucket, "p/same_size.txt")["Metadata"]
        self.assertEqual(md["file-mtime"], "1650000000000000001ns")
        puts = [w for w in self.writes() if w[0] == "PUT" and w[2] > 0]
        self.assertEqual([(m, t.split("?")[0], n) for m, t, n in puts],
                         [("PUT", f"/{self.bucket}/p/same_size.txt", 5000)])

    def test_chmod_is_applied_without_uploading_the_content(self):
        key = "p/chmod.txt"
        before = head(self.server, self.bucket, key)
        os.chmod(os.path.join(self.src, "chmod.txt"), 0o600)
        r = self.sync_via_proxy()
        self.assertSuccess(r)
        # DataSync counts a metadata-only update as a file transferred, with
        # no bytes.
        self.assertEqual(r["FilesTransferred"], 1, r.describe())
        self.assertEqual(r["BytesWritten"], 0, r.describe())
        after = head(self.server, self.bucket, key)
        self.assertEqual(after["Metadata"]["file-permissions"], "0100600")
        self.assertEqual(after["Metadata"]["ferry-digest"], before["Metadata"]["ferry-digest"])
        self.assertEqual(after["Metadata"]["file-mtime"], before["Metadata"]["file-mtime"])
        self.assertEqual(after["ContentLength"], 100)
        with open(os.path.join(self.src, "chmod.txt"), "rb") as f:
            self.assertEqual(get_bytes(self.server, self.bucket, key), f.read())
        # No request carried content: a server-side copy replaced the metadata.
        writes = self.writes()
        self.assertTrue(writes, "no request changed the object")
        self.assertEqual([w for w in writes if w[2] > 0], [], writes)
        self.assertNotIn("uploads", " ".join(t for _, t, _ in writes))

    def test_a_download_never_changes_a_hard_link_outside_the_destination(self):
        # Object storage has no hard links, so only the destination's link
        # count tells: a name outside the destination keeps its mode.
        base = self.scratch()
        dst, outside = os.path.join(base, "dst"), os.path.join(base, "outside")
        os.makedirs(outside)
        self.assertSuccess(s3sync(self.url, dst))
        os.link(os.path.join(dst, "chmod.txt"), os.path.join(outside, "chmod.txt"))
        os.chmod(os.path.join(self.src, "chmod.txt"), 0o600)
        self.assertSuccess(s3sync(self.src, self.url))
        r = s3sync(self.url, dst)
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 1, r.describe())
        mine = os.lstat(os.path.join(dst, "chmod.txt"))
        theirs = os.lstat(os.path.join(outside, "chmod.txt"))
        self.assertEqual(stat.S_IMODE(mine.st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(theirs.st_mode), 0o644)
        self.assertEqual((mine.st_nlink, theirs.st_nlink), (1, 1))

    def test_remove_deletes_objects_and_folder_markers(self):
        os.unlink(os.path.join(self.src, "gone.txt"))
        for rel in ("doomed/inner/ln", "doomed/inner/f2", "doomed/f1"):
            os.unlink(os.path.join(self.src, rel))
        os.rmdir(os.path.join(self.src, "doomed", "inner"))
        os.rmdir(os.path.join(self.src, "doomed"))
        os.rmdir(os.path.join(self.src, "empty-doomed"))
        gone = {"p/gone.txt", "p/doomed/inner/ln", "p/doomed/inner/f2", "p/doomed/f1",
                "p/doomed/inner/", "p/doomed/", "p/empty-doomed/"}
        before = set(boto_objects(self.server, self.bucket))
        self.assertLessEqual(gone, before)
        # PRESERVE (the default) keeps them.
        r = self.sync_via_proxy()
        self.assertSuccess(r)
        self.assertEqual(set(boto_objects(self.server, self.bucket)), before)
        self.proxy.reset()
        r = self.sync_via_proxy("--preserve-deleted-files", "REMOVE")
        self.assertSuccess(r)
        self.assertEqual(r["FilesDeleted"], 4, r.describe())
        self.assertEqual(r["FoldersDeleted"], 3, r.describe())
        after = set(boto_objects(self.server, self.bucket))
        self.assertEqual(after, before - gone)
        self.assertEqual(set(cli_objects(self.server, self.bucket)), after)
        # Each went with a DELETE of its own (ferry deletes item by item;
        # a DeleteObjects batch, POST ?delete, names its keys in the body);
        # nothing else was deleted, nothing was written.
        deleted = [urllib.parse.unquote(t.split("?")[0].split("/", 2)[2])
                   for m, t, _ in self.writes() if m == "DELETE"]
        batches = [t for m, t, _ in self.writes() if m == "POST" and "delete" in t]
        self.assertLessEqual(set(deleted), gone)
        self.assertEqual(len(deleted), len(set(deleted)), deleted)
        if not batches:
            self.assertEqual(set(deleted), gone)
        self.assertEqual([w for w in self.writes() if w[0] not in ("DELETE", "POST")], [])
        self.assertNoUploads(self.bucket)


# --------------------------------------------------------------------------
# 4: S3 to S3


class S3ToS3(S3TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = s3.server()
        cls.a = cls.server.fresh_bucket(cls, "s2s-a")
        cls.b = cls.server.fresh_bucket(cls, "s2s-b")
        base = oracle.make_scratch(_ClassCleanup(cls))
        cls.src = os.path.join(base, "src")
        cls.base = base
        os.makedirs(os.path.join(cls.src, "x", "empty"))
        oracle.write_file(os.path.join(cls.src, "x", "two parts.bin"), os.urandom(TWO_PARTS),
                          mode=0o600, mtime_ns=1_400_000_000_000_000_001)
        for i, name in enumerate(ODD_NAMES[:5]):
            oracle.write_file(os.path.join(cls.src, name), os.urandom(50 * i), mode=0o640,
                              mtime_ns=1_500_000_000_000_000_000 + i)
        os.symlink("x/two parts.bin", os.path.join(cls.src, "ln"))
        oracle.set_times(os.path.join(cls.src, "x", "empty"), 1_300_000_000_000_000_007)
        oracle.set_times(os.path.join(cls.src, "x"), 1_300_000_000_000_000_008)
        cls.up = s3sync(cls.src, s3url(cls.a, "src/tree"))
        # bucket to bucket (to its root), and within a bucket (another prefix)
        cls.to_b = s3sync(s3url(cls.a, "src/tree"), s3url(cls.b))
        cls.to_a = s3sync(s3url(cls.a, "src/tree"), s3url(cls.a, "copies/one"))

    def test_runs_succeed(self):
        for run in (self.up, self.to_b, self.to_a):
            self.assertSuccess(run)
            self.assertNoFailures(run)
        stats = oracle.tree_stats(self.src)
        self.assertEqual(self.to_b["FilesTransferred"], stats["files"])
        self.assertEqual(self.to_b["BytesWritten"], stats["bytes"])

    def assertSameObjects(self, bucket, prefix, *, root_marker):
        src = boto_objects(self.server, self.a, "src/tree/")
        dst = boto_objects(self.server, bucket, prefix)
        mapped = {prefix + k[len("src/tree/"):]: k for k in src}
        if not root_marker:
            mapped.pop(prefix, None)
        self.assertEqual(sorted(dst), sorted(mapped))
        for dkey, skey in mapped.items():
            hs, hd = head(self.server, self.a, skey), head(self.server, bucket, dkey)
            self.assertEqual(hd["ContentLength"], hs["ContentLength"], dkey)
            keys = FILE_MODE_KEYS + ("ferry-digest",)
            self.assertEqual({k: hd["Metadata"].get(k) for k in keys},
                             {k: hs["Metadata"].get(k) for k in keys}, dkey)
            self.assertIn("file-mtime", hd["Metadata"], dkey)
            self.assertEqual(sha256(get_bytes(self.server, bucket, dkey)),
                             sha256(get_bytes(self.server, self.a, skey)), dkey)

    def test_bucket_to_bucket_keeps_keys_content_and_metadata(self):
        # The bucket's root keeps no metadata: no marker for it.
        self.assertSameObjects(self.b, "", root_marker=False)

    def test_prefix_to_prefix_keeps_keys_content_and_metadata(self):
        self.assertSameObjects(self.a, "copies/one/", root_marker=True)

    def test_the_copy_comes_back_identical(self):
        dst = os.path.join(oracle.make_scratch(self), "back")
        r = s3sync(s3url(self.a, "copies/one"), dst)
        self.assertSuccess(r)
        self.assertTreesEqual(self.src, dst)

    def test_second_run_transfers_nothing(self):
        r = s3sync(s3url(self.a, "src/tree"), s3url(self.b))
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 0, r.describe())
        self.assertEqual(r["BytesWritten"], 0)

    def test_no_multipart_upload_is_left(self):
        self.assertNoUploads(self.a)
        self.assertNoUploads(self.b)


# --------------------------------------------------------------------------
# 4b: object tags between buckets (DataSync's ObjectTags)


def object_tags(server, bucket, key, cli=False):
    """{key: value} of the object's tags, read with boto3 or (cli) with
    `aws s3api get-object-tagging` (about 2 s a call)."""
    if cli:
        out = cli_json(server, ["s3api", "get-object-tagging", "--bucket", bucket, "--key", key])
    else:
        out = server.client().get_object_tagging(Bucket=bucket, Key=key)
    return {t["Key"]: t["Value"] for t in out.get("TagSet") or []}


def put_object_tags(server, bucket, key, tags, cli=False):
    tagging = {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
    if cli:
        server.aws(["s3api", "put-object-tagging", "--bucket", bucket, "--key", key,
                    "--tagging", json.dumps(tagging)])
    else:
        server.client().put_object_tagging(Bucket=bucket, Key=key, Tagging=tagging)


class ObjectTags(S3TestCase):
    """Objects tagged in one bucket (with boto3 and the aws CLI), copied to
    another by `ferry sync`: with ObjectTags PRESERVE (the default) each
    copy has exactly its source's tags, whether one PUT or a multipart
    upload wrote it; with --object-tags NONE it has none. As in DataSync, a
    change of tags alone is not transferred; a metadata change brings the
    tags along (radosgw drops an object's tags when ferry copies it onto
    itself to change its metadata: ferry puts them again)."""

    # Characters S3 allows in tags: letters of any script, digits, spaces
    # and + - = . _ : / @; the longest key and value.
    TAGS = {
        "one.txt": {"project": "ferry", "class": "gold"},
        "odd tags.txt": {"with space+plus": "a=b:c/d@e_f.g-h", "café": "日本",
                         "k" * 128: "v" * 256},
        "empty.bin": {"empty": ""},
        "two parts.bin": {"size": "big", "parts": "2"},
    }
    UNTAGGED = "plain.txt"
    MTIME = "1500000000000000001ns"

    @classmethod
    def setUpClass(cls):
        cls.server = s3.server()
        cls.src = cls.server.fresh_bucket(cls, "tags-src")
        cls.dst = cls.server.fresh_bucket(cls, "tags-dst")
        c = cls.server.client()
        cls.content = {"one.txt": b"one\n", "odd tags.txt": b"odd\n", "empty.bin": b"",
                       "two parts.bin": os.urandom(TWO_PARTS), cls.UNTAGGED: b"plain\n"}
        for key, body in cls.content.items():
            # With the metadata ferry reads (so that a metadata change is
            # one and not a new file): the mode and an mtime of their own.
            md = {"file-permissions": "0100644", "file-mtime": cls.MTIME}
            tags = cls.TAGS.get(key)
            if key == "one.txt":  # tagged as it is put (x-amz-tagging)
                c.put_object(Bucket=cls.src, Key="src/" + key, Body=body, Metadata=md,
                             Tagging=urllib.parse.urlencode(tags))
            else:
                c.put_object(Bucket=cls.src, Key="src/" + key, Body=body, Metadata=md)
                if tags:
                    put_object_tags(cls.server, cls.src, "src/" + key, tags,
                                    cli=key == "odd tags.txt")
        # Guard the test itself: the source has the tags it is meant to.
        for key in cls.content:
            got = object_tags(cls.server, cls.src, "src/" + key)
            if got != cls.TAGS.get(key, {}):
                raise AssertionError(f"src/{key} is tagged {got}, not {cls.TAGS.get(key)}")
        cls.kept = s3sync(s3url(cls.src, "src"), s3url(cls.dst, "kept"))
        cls.none = s3sync(s3url(cls.src, "src"), s3url(cls.dst, "none"), "--object-tags", "NONE")

    def test_runs_succeed(self):
        for run in (self.kept, self.none):
            self.assertSuccess(run)
            self.assertNoFailures(run)
            self.assertEqual(run["FilesTransferred"], len(self.content), run.describe())
        self.assertEqual(self.kept["Options"]["ObjectTags"], "PRESERVE")
        self.assertEqual(self.none["Options"]["ObjectTags"], "NONE")

    def test_preserve_copies_exactly_the_source_tags(self):
        for key in self.content:
            want = self.TAGS.get(key, {})
            self.assertEqual(object_tags(self.server, self.dst, "kept/" + key), want, key)
            self.assertEqual(get_bytes(self.server, self.dst, "kept/" + key), self.content[key])
        # As the aws CLI reads them: one PUT, and a multipart upload.
        for key in ("odd tags.txt", "two parts.bin"):
            self.assertEqual(object_tags(self.server, self.dst, "kept/" + key, cli=True),
                             self.TAGS[key], key)
        # The big one went up in parts.
        self.assertEqual(head(self.server, self.dst, "kept/two parts.bin")["ETag"].strip('"'),
                         multipart_etag(self.content["two parts.bin"], PART))
        self.assertNoUploads(self.dst)

    def test_none_copies_no_tags(self):
        for key in self.content:
            self.assertEqual(object_tags(self.server, self.dst, "none/" + key), {}, key)
            self.assertEqual(get_bytes(self.server, self.dst, "none/" + key), self.content[key])
        self.assertEqual(object_tags(self.server, self.dst, "none/one.txt", cli=True), {})

    def test_tag_and_metadata_changes(self):
        # Its own copy (the other tests read the first runs' copies, never
        # the source, which this test changes).
        first = s3sync(s3url(self.src, "src"), s3url(self.dst, "changes"))
        self.assertSuccess(first)
        # Tags alone changed: nothing is transferred, the copy keeps the old.
        put_object_tags(self.server, self.src, "src/one.txt", {"class": "silver"})
        again = s3sync(s3url(self.src, "src"), s3url(self.dst, "changes"))
        self.assertSuccess(again)
        self.assertEqual(again["FilesTransferred"], 0, again.describe())
        self.assertEqual(object_tags(self.server, self.dst, "changes/one.txt"),
                         self.TAGS["one.txt"])
        # A metadata change (the mode) of two files, one of them in parts:
        # the copies' metadata change (a copy onto itself, which drops tags
        # on radosgw) and they have their source's tags.
        c = self.server.client()
        for key in ("one.txt", "two parts.bin"):
            src_key = "src/" + key
            tags = object_tags(self.server, self.src, src_key)
            c.copy_object(Bucket=self.src, Key=src_key,
                          CopySource={"Bucket": self.src, "Key": src_key},
                          Metadata={"file-permissions": "0100600", "file-mtime": self.MTIME},
                          MetadataDirective="REPLACE")
            put_object_tags(self.server, self.src, src_key, tags)  # the copy dropped them
        meta = s3sync(s3url(self.src, "src"), s3url(self.dst, "changes"))
        self.assertSuccess(meta)
        self.assertNoFailures(meta)
        self.assertEqual(meta["BytesWritten"], 0, meta.describe())
        for key, want in (("one.txt", {"class": "silver"}),
                          ("two parts.bin", self.TAGS["two parts.bin"])):
            self.assertEqual(head(self.server, self.dst, "changes/" + key)["Metadata"]
                             ["file-permissions"], "0100600", key)
            self.assertEqual(object_tags(self.server, self.dst, "changes/" + key), want, key)
        self.assertEqual(object_tags(self.server, self.dst, "changes/odd tags.txt"),
                         self.TAGS["odd tags.txt"])


# --------------------------------------------------------------------------
# 5: locations that cannot work


class OpenErrors(S3TestCase):
    """Each ends with exit status 1, quickly, with a message on stderr that
    says which side, names the location and the cause; the secret key is
    never printed; a local destination is not created."""

    @classmethod
    def setUpClass(cls):
        cls.server = s3.server()
        cls.bucket = cls.server.fresh_bucket(cls, "errors")
        cls.server.client().put_object(Bucket=cls.bucket, Key="p/one.txt", Body=b"1")

    def setUp(self):
        self.base = self.scratch()
        self.src = os.path.join(self.base, "src")
        os.makedirs(self.src)
        oracle.write_file(os.path.join(self.src, "f.txt"), b"local\n")
        self.dst = os.path.join(self.base, "dst")

    def fails(self, src, dst, side, location, cause, *opts, endpoint=None, env=None):
        env = env or ferry_env(self.server)
        start = time.monotonic()
        r = s3sync(src, dst, *opts, endpoint=endpoint, env=env)
        self.assertFinishedWithin(start, FAIL_FAST_S, r)
        self.assertEqual(r.rc, 1, r.describe())
        self.assertIn(f"ferry sync: {side}: ", r.stderr, r.describe())
        self.assertIn(location, r.stderr, r.describe())
        self.assertRegex(r.stderr, cause, r.describe())
        for secret in (env.get("AWS_SECRET_ACCESS_KEY"), self.server.secret_key):
            self.assertNotIn(secret, r.stdout + r.stderr)
        self.assertFalse(os.path.exists(self.dst), "the destination was created")
        return r

    def both_sides(self, bucket, cause, *opts, endpoint=None, env=None):
        url = s3url(bucket, "p")
        self.fails(url, self.dst, "source", f"s3://{bucket}/p", cause, *opts,
                   endpoint=endpoint, env=env)
        self.fails(self.src, url, "destination", f"s3://{bucket}/p", cause, *opts,
                   endpoint=endpoint, env=env)

    def test_bad_secret_key(self):
        # HEAD answers have no body: S3's code (SignatureDoesNotMatch) is
        # not there to quote, the status is.
        env = ferry_env(self.server, AWS_SECRET_ACCESS_KEY="x" * 40)
        self.both_sides(self.bucket, r"403", env=env)

    def test_unknown_access_key(self):
        env = ferry_env(self.server, AWS_ACCESS_KEY_ID="AKIANOSUCHKEY0000000")
        self.both_sides(self.bucket, r"403", env=env)

    def test_missing_bucket(self):
        bucket = "ferry-no-such-bucket-" + os.urandom(6).hex()
        self.both_sides(bucket, r"NoSuchBucket|does not exist")
        # A dry run too: ferry never creates buckets, so a missing one is no
        # empty destination to plan against.
        self.fails(self.src, s3url(bucket, "p"), "destination", f"s3://{bucket}/p",
                   r"NoSuchBucket|does not exist", "--dry-run")

    def test_nothing_listening(self):
        endpoint = f"http://127.0.0.1:{free_port()}"
        self.both_sides(self.bucket, r"(?i)connect|refused", endpoint=endpoint)
        # and the message names the endpoint
        r = self.fails(s3url(self.bucket, "p"), self.dst, "source", endpoint,
                       r"(?i)couldn't connect|refused", endpoint=endpoint)
        self.assertIn(endpoint, r.stderr)

    def test_https_without_the_ca(self):
        # The machine-wide bundle (what AWS_CA_BUNDLE often names) does not
        # hold the private CA, nor does the system's store.
        for env in (ferry_env(self.server),
                    ferry_env(self.server, AWS_CA_BUNDLE="/etc/ssl/certs/ca-certificates.crt")):
            if env.get("AWS_CA_BUNDLE") and not os.path.exists(env["AWS_CA_BUNDLE"]):
                continue
            self.both_sides(self.bucket, r"(?i)certificate", env=env,
                            endpoint=self.server.https_endpoint)
        # With the CA it works.
        r = s3sync(s3url(self.bucket, "p"), self.dst, "--ca-bundle", self.server.ca_file,
                   endpoint=self.server.https_endpoint)
        self.assertSuccess(r)
        with open(os.path.join(self.dst, "one.txt"), "rb") as f:
            self.assertEqual(f.read(), b"1")

    def test_invalid_bucket_name(self):
        for name in ("no!such", "xy"):
            start = time.monotonic()
            for src, dst in ((s3url(name, "p"), self.dst), (self.src, s3url(name, "p"))):
                r = s3sync(src, dst)
                self.assertFinishedWithin(start, FAIL_FAST_S, r)
                self.assertIn(r.rc, (1, 2), r.describe())
                self.assertIn(name, r.stderr, r.describe())
                self.assertRegex(r.stderr, r"(?i)bucket", r.describe())
                self.assertFalse(os.path.exists(self.dst))


# --------------------------------------------------------------------------
# 6: faults through the proxy


class Faults(S3TestCase):
    def setUp(self):
        self.server = s3.server()
        self.bucket = self.server.fresh_bucket(self, "faults")
        self.proxy = s3.FaultProxy.start(self.server, self)
        base = self.scratch()
        self.base = base
        self.src = os.path.join(base, "src")
        os.makedirs(self.src)
        self.big = None
        self.small = os.urandom(3000)
        oracle.write_file(os.path.join(self.src, "small.txt"), self.small)
        self.url = s3url(self.bucket, "f")

    def add_big(self, size=TWO_PARTS):
        """A multipart file (only the tests that need one: see BIG)."""
        self.big = os.urandom(size)
        oracle.write_file(os.path.join(self.src, "big.bin"), self.big)

    def sync_via_proxy(self, *opts, timeout=180):
        return s3sync(self.src, self.url, *opts, endpoint=self.proxy.url, timeout=timeout)

    def assertArrived(self):
        self.assertEqual(get_bytes(self.server, self.bucket, "f/small.txt"), self.small)
        if self.big is not None:
            self.assertEqual(sha256(get_bytes(self.server, self.bucket, "f/big.bin")),
                             sha256(self.big))
            self.assertEqual(head(self.server, self.bucket, "f/big.bin")["ETag"].strip('"'),
                             multipart_etag(self.big, PART))
        self.assertNoUploads(self.bucket)

    def upload_part_targets(self):
        return [e["target"] for e in self.proxy.stats()["log"]
                if e["method"] == "PUT" and "partNumber=" in e["target"]]

    def test_slowdown_on_upload_parts_is_retried(self):
        self.add_big()
        self.proxy.add(action="error", method="PUT", match="partNumber=", count=3)
        r = self.sync_via_proxy()
        self.assertSuccess(r)
        self.assertNoFailures(r)
        st = self.proxy.stats()
        self.assertEqual(st["injected"], {"error": 3}, st)
        self.assertEqual(len(self.upload_part_targets()), 2 + 3)  # 2 parts, 3 refusals
        self.assertArrived()

    def test_slowdown_on_a_put_is_retried(self):
        self.proxy.add(action="error", method="PUT", match="/small.txt", count=2)
        r = self.sync_via_proxy()
        self.assertSuccess(r)
        self.assertEqual(self.proxy.stats()["injected"], {"error": 2})
        self.assertArrived()

    # The S3 client's own retries reach the execution through the backend's
    # StorageObserver: counted in Ferry.Retries and logged like the
    # transfer's.
    def test_s3_retries_are_counted_and_logged(self):
        log = os.path.join(self.base, "log.jsonl")
        self.proxy.add(action="error", method="PUT", match="/small.txt", count=3)
        r = self.sync_via_proxy("--log-file", log)
        self.assertSuccess(r)
        self.assertEqual(self.proxy.stats()["injected"], {"error": 3})
        self.assertArrived()
        retried = [x for x in oracle.read_log(log) if x.get("event") == "Retrying"]
        self.assertEqual(r["Ferry.Retries"], 3, r.describe())
        self.assertEqual(len(retried), 3)

    # A store that stops answering mid-run (every request refused with 503
    # from then on): the workers wait for it, looking again with backoff,
    # and when it has not answered for --outage-limit the run ends with one
    # error naming it, not a failure per file; nothing partial is visible.
    def test_a_store_that_stops_answering_ends_the_run_naming_it(self):
        for i in range(8):
            oracle.write_file(os.path.join(self.src, f"part{i}.bin"), os.urandom(2 << 20))
        cmd = oracle.ferry_cmd() + ["sync", self.src, self.url, "--endpoint-url",
                                    self.proxy.url, "--bytes-per-second", str(4 << 20),
                                    "--threads", "2", "--outage-limit", "3", "--json"]
        proc = subprocess.Popen(cmd, env=ferry_env(self.server), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                errors="replace")

        def stop():
            if proc.poll() is None:
                proc.kill()
            proc.communicate()

        self.addCleanup(stop)
        oracle.wait_for(lambda: any(e["method"] == "PUT" for e in self.proxy.stats()["log"]),
                        60, 0.05, "ferry's first PUT")
        self.proxy.add(action="error", count=1000000)
        out, err = proc.communicate(timeout=oracle.scaled(180))
        self.assertEqual(proc.returncode, 1, err[-3000:])
        r = json.loads(out)
        self.assertEqual(r["Status"], "ERROR")
        self.assertEqual(r["Result"]["ErrorCode"], "DestinationLocationError", err[-3000:])
        detail = r["Result"]["ErrorDetail"]
        self.assertIn(self.url, detail)
        self.assertIn("does not answer", detail)
        self.assertIn("SlowDown", detail)
        self.assertIn("The transfer waits for it, up to 3 s", err)
        # At most the files in flight failed; the rest were never tried.
        self.assertLessEqual(r["FilesFailed"]["Transfer"], 2, err[-3000:])
        self.assertNoUploads(self.bucket)
        for key in boto_objects(self.server, self.bucket):
            if key.endswith("/"):
                continue  # a folder's marker
            name = key.rsplit("/", 1)[-1]
            with open(os.path.join(self.src, name), "rb") as f:
                self.assertEqual(get_bytes(self.server, self.bucket, key), f.read(),
                                 f"{key} is partial")

    def test_a_part_failing_past_the_client_retries_is_retried_by_the_transfer(self):
        # S3Client makes 4 attempts per call: 5 SlowDowns for part 2 make
        # one UploadPart fail, and the transfer writes it again (counted in
        # Ferry.Retries and logged).
        self.add_big()
        log = os.path.join(self.base, "log.jsonl")
        self.proxy.add(action="error", method="PUT", match="partNumber=2&", count=5)
        r = self.sync_via_proxy("--log-file", log)
        self.assertSuccess(r)
        self.assertNoFailures(r)
        self.assertEqual(self.proxy.stats()["injected"], {"error": 5},
                         self.upload_part_targets())
        # 4 by the client (its 4 attempts of the part, each logged with the
        # request) and 1 by the transfer (logged with the file).
        self.assertEqual(r["Ferry.Retries"], 5, r.describe())
        retried = [x for x in oracle.read_log(log) if x.get("event") == "Retrying"]
        by_file = [x for x in retried if "path" in x]
        by_client = [x for x in retried if "path" not in x]
        self.assertEqual({x["path"] for x in by_file}, {"/big.bin"}, retried)
        self.assertEqual(len(by_file), 1, retried)
        self.assertEqual(len(by_client), 4, retried)
        self.assertTrue(all("partNumber=2" in x["operation"] or "big.bin" in x["operation"]
                            for x in by_client), by_client)
        self.assertArrived()

    def test_connection_cut_mid_upload_part_is_retried(self):
        self.add_big()
        self.proxy.add(action="cut", method="PUT", match="partNumber=1&", after_bytes=MiB)
        r = self.sync_via_proxy()
        self.assertSuccess(r)
        self.assertNoFailures(r)
        st = self.proxy.stats()
        self.assertEqual(st["injected"], {"cut": 1}, st)
        cut = [e for e in st["log"] if e["action"] == "cut"]
        self.assertEqual(cut[0]["body_bytes"], MiB)
        self.assertArrived()

    def test_connection_cut_mid_put_is_retried(self):
        self.proxy.add(action="cut", method="PUT", match="/small.txt", after_bytes=1000)
        r = self.sync_via_proxy()
        self.assertSuccess(r)
        self.assertEqual(self.proxy.stats()["injected"], {"cut": 1})
        self.assertArrived()

    def test_persistent_403_fails_the_file_and_leaves_nothing(self):
        self.add_big()
        self.proxy.add(action="error", method="PUT", match="partNumber=", status=403,
                       code="AccessDenied", message="Access Denied", count=1000)
        start = time.monotonic()
        r = self.sync_via_proxy()
        self.assertFinishedWithin(start, FAIL_FAST_S, r)
        self.assertEqual(r.rc, 1, r.describe())
        self.assertEqual(r["Status"], "ERROR", r.describe())
        self.assertEqual(r["FilesFailed.Transfer"], 1, r.describe())
        # Refused at once, never retried (4xx).
        self.assertEqual(self.proxy.stats()["injected"]["error"],
                         len(self.upload_part_targets()))
        self.assertLessEqual(self.proxy.stats()["injected"]["error"], 2)  # one per part at most
        # The small file arrived; the big one is nowhere, not even staged.
        self.assertEqual(get_bytes(self.server, self.bucket, "f/small.txt"), self.small)
        self.assertNotIn("f/big.bin", boto_objects(self.server, self.bucket))
        self.assertNoUploads(self.bucket)

    def test_sigkill_mid_upload_leaves_no_visible_partial_object(self):
        c = self.server.client()
        os.unlink(os.path.join(self.src, "small.txt"))
        self.add_big(PART + 8 * MiB)
        # One worker at 8 MiB/s writes the file in order: the first 16 MiB
        # part is uploaded after about 2 s, the whole file after 3 s (with
        # more workers, each writes its own range and every part fills at
        # the end). ferry is killed once a part is in.
        cmd = oracle.ferry_cmd() + ["sync", self.src, self.url, "--endpoint-url",
                                    self.server.endpoint, "--bytes-per-second",
                                    str(8 * MiB), "--threads", "1", "--json"]
        proc = subprocess.Popen(cmd, env=ferry_env(self.server), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def stop():
            if proc.poll() is None:
                proc.kill()
            proc.communicate()

        self.addCleanup(stop)

        def a_part_is_in():
            self.assertIsNone(proc.poll(), "ferry ended before a part was uploaded")
            with self.assertRaises(botocore.exceptions.ClientError):
                c.head_object(Bucket=self.bucket, Key="f/big.bin")
            ups = c.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
            if not ups:
                return False
            parts = c.list_parts(Bucket=self.bucket, Key=ups[0]["Key"],
                                 UploadId=ups[0]["UploadId"]).get("Parts", [])
            return bool(parts)

        oracle.wait_for(a_part_is_in, 60, interval=0.05,
                        what="a part of big.bin uploaded")
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, -signal.SIGKILL, err.decode(errors="replace"))
        # Staged, not visible: the upload is listed, the key is not there.
        uploads = cli_uploads(self.server, self.bucket)
        self.assertEqual([k for k, _ in uploads], ["f/big.bin"])
        self.assertNotIn("f/big.bin", cli_objects(self.server, self.bucket))
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            c.head_object(Bucket=self.bucket, Key="f/big.bin")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 404)
        # The next run completes the file. It leaves the killed run's upload
        # alone (ferry aborts only uploads older than 24 h) and nothing of
        # its own.
        r = s3sync(self.src, self.url)
        self.assertSuccess(r)
        self.assertEqual(r["FilesTransferred"], 1)
        self.assertEqual(sha256(get_bytes(self.server, self.bucket, "f/big.bin")),
                         sha256(self.big))
        self.assertEqual(cli_uploads(self.server, self.bucket), uploads)


if __name__ == "__main__":
    unittest.main()
