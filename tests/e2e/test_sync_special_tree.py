"""End-to-end: one tree that mixes every special case, synced once and judged
by the independent oracle (types, content, modes, owners, nanosecond times,
symlink targets as bytes, device numbers, xattrs and ACLs, hard-link groups,
holes), then synced again with nothing to do.

`rsync -aHAX` is not the judge: it misses FIFO and device times and fills
holes without -S.

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_sync_special_tree
"""

import os
import random
import shutil
import socket
import stat
import subprocess
import unittest

import oracle
from oracle import FerryTestCase, sync

MiB = 1024 * 1024


def ns(rng):
    return oracle.random_mtime_ns(rng)


def setfacl(*args):
    subprocess.run(["setfacl", *args], check=True, capture_output=True)


class MixedTree(FerryTestCase):
    """Built once; the tests look at the first and second runs from two sides."""

    @classmethod
    def setUpClass(cls):
        cls._cleanup = []
        base = oracle.make_scratch(_Holder(cls._cleanup), prefix="ferry-e2e3-mixed-")
        cls.base = base
        cls.src = os.path.join(base, "src")
        cls.dst = os.path.join(base, "dst")
        cls.log = os.path.join(base, "log.jsonl")
        if not oracle.user_xattrs_supported(base):
            cls.tearDownClass()
            raise unittest.SkipTest(f"{base} takes no user.* extended attributes")
        cls.acls = oracle.acls_supported(base)
        cls.devices = oracle.is_root()
        cls.notes = build_mixed_tree(cls.src, acls=cls.acls, devices=cls.devices)
        cls.before = oracle.snapshot(cls.src)  # reads the files: atimes move
        cls.src_walk = oracle.walk(cls.src)  # as of just before the run
        cls.first = sync(cls.src, cls.dst, "--preserve-devices", "PRESERVE", "--log-level",
                         "TRANSFER", "--log-file", cls.log, "--checksum-algorithm", "SHA-256")
        cls.after_first = oracle.walk(cls.dst)
        cls.dst_atimes = {rel: st.st_atime_ns for rel, st in cls.after_first.items()}
        cls.second = sync(cls.src, cls.dst, "--preserve-devices", "PRESERVE")
        cls.third = sync(cls.src, cls.dst, "--preserve-devices", "PRESERVE", "--xattr-check",
                         "ALWAYS", "--transfer-mode", "CHANGED")

    @classmethod
    def tearDownClass(cls):
        for fn, args in reversed(cls._cleanup):
            fn(*args)

    def test_tree_has_every_special_case(self):
        # The generator did what it promised (so the comparison below means something).
        kinds = {oracle.kind(st) for st in self.src_walk.values()}
        expected = {"file", "dir", "symlink", "fifo", "socket"}
        if self.devices:
            expected |= {"chardev", "blockdev"}
        self.assertEqual(kinds, expected)
        groups = oracle.link_groups(self.src_walk)
        self.assertIn(frozenset({b"h1", b"a/h2", b"b/deeper/h3"}), groups)
        sparse = self.src_walk[b"sparse.img"]
        if self.src_walk[b"all-hole.img"].st_blocks == 0:  # a file system with holes
            self.assertLess(sparse.st_blocks * 512, sparse.st_size // 8)
        self.assertEqual(stat.S_IMODE(self.src_walk[b"suid"].st_mode), 0o4755)
        self.assertEqual(stat.S_IMODE(self.src_walk[b"sticky-dir"].st_mode), 0o1777)
        if self.acls:
            self.assertIn("system.posix_acl_default", oracle.xattrs_rel(self.src, b"acl-dir"))

    def test_first_run_succeeds(self):
        r = self.first
        self.assertSuccess(r)
        self.assertNoFailures(r)
        stats = oracle.tree_stats(self.src)
        self.assertEqual(r["FilesTransferred"], stats["files"])
        self.assertEqual(r["FoldersTransferred"], stats["folders"] - 1)  # the root is not counted
        self.assertEqual(r["FilesSkipped"], 0)
        # Every non-folder verified, with the sparse file's logical size counted.
        self.assertEqual(r["FilesVerified"], stats["files"])

    def test_first_run_copies_everything_exactly(self):
        self.assertSuccess(self.first)
        diffs = oracle.compare_trees(self.src, self.dst, xattrs=True, links=True, holes=True)
        self.assertEqual(diffs, [], "trees differ:\n" + "\n".join(diffs))

    def test_hard_link_groups_and_holes(self):
        # Spelled out, in case compare_trees' options are ever dropped.
        self.assertSuccess(self.first)
        self.assertEqual(oracle.link_groups(self.after_first), oracle.link_groups(self.src_walk))
        st = self.after_first[b"sparse.img"]
        self.assertLessEqual(st.st_blocks * 512,
                             self.src_walk[b"sparse.img"].st_blocks * 512 + oracle.HOLE_SLACK)
        self.assertLessEqual(self.after_first[b"all-hole.img"].st_blocks,
                             self.src_walk[b"all-hole.img"].st_blocks)

    def test_special_bits_owners_devices(self):
        self.assertSuccess(self.first)
        d = self.after_first
        self.assertEqual(stat.S_IMODE(d[b"suid"].st_mode), 0o4755)
        self.assertEqual(stat.S_IMODE(d[b"sgid-suid"].st_mode), 0o6711)
        self.assertEqual(stat.S_IMODE(d[b"sticky-dir"].st_mode), 0o1777)
        self.assertEqual(stat.S_IMODE(d[b"setgid-dir"].st_mode), 0o2775)
        self.assertTrue(stat.S_ISSOCK(d[b"b/sock"].st_mode))
        self.assertTrue(stat.S_ISFIFO(d[b"a/fifo"].st_mode))
        self.assertEqual(os.readlink(os.path.join(os.fsencode(self.dst), b"odd-target")),
                         b"odd\xff\n\\target\t")
        if oracle.is_root():
            self.assertEqual((d[b"suid"].st_uid, d[b"suid"].st_gid), (4242, 4243))
            self.assertEqual((d[b"a/fifo"].st_uid, d[b"a/fifo"].st_gid), (1001, 100))
            self.assertEqual((d[b"rel-link"].st_uid, d[b"rel-link"].st_gid), (1000, 1000))
        if self.devices:
            self.assertTrue(stat.S_ISCHR(d[b"devs/chr"].st_mode))
            self.assertEqual(d[b"devs/chr"].st_rdev, os.makedev(1, 3))
            self.assertTrue(stat.S_ISBLK(d[b"devs/blk"].st_mode))
            self.assertEqual(d[b"devs/blk"].st_rdev, os.makedev(7, 123))

    def test_nanosecond_times_on_every_kind(self):
        self.assertSuccess(self.first)
        for rel in self.notes["timed"]:
            with self.subTest(path=oracle.show(rel)):
                self.assertEqual(self.after_first[rel].st_mtime_ns,
                                 self.src_walk[rel].st_mtime_ns)
                self.assertNotEqual(self.after_first[rel].st_mtime_ns % 1000, 0)

    def test_access_times_as_before_the_run(self):
        # Atime BEST_EFFORT: the access time the source had before the run
        # (ferry's own reads of the source do not count). Symlinks: below.
        self.assertSuccess(self.first)
        checked = 0
        for rel, st in self.src_walk.items():
            if not rel or stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
                continue
            with self.subTest(path=oracle.show(rel)):
                self.assertEqual(self.dst_atimes[rel], st.st_atime_ns)
                checked += 1
        self.assertGreaterEqual(checked, 25)

    def test_symlink_access_times_as_before_the_run(self):
        # BUG: with verification on (the default), a symlink's atime at the
        # destination is not the source's: ferry sets it, then point-in-time
        # verification reads the link (readlink) and the kernel (relatime)
        # moves the destination link's atime to now. With --verify-mode NONE
        # the destination gets the source's atime as scanned. (Ferry's own
        # readlink of the source also moves the source link's atime.)
        self.assertSuccess(self.first)
        links = [rel for rel, st in self.src_walk.items() if stat.S_ISLNK(st.st_mode)]
        self.assertEqual(len(links), 7)
        wrong = [oracle.show(rel) for rel in links
                 if self.dst_atimes[rel] != self.src_walk[rel].st_atime_ns]
        self.assertEqual(wrong, [])

    def test_source_left_as_it_was(self):
        self.assertEqual(oracle.snapshot(self.src), self.before)

    def test_xattrs_and_acls_arrive(self):
        self.assertSuccess(self.first)
        self.assertEqual(oracle.xattrs_rel(self.dst, b"a")[("user.folder")], b"dir attr")
        self.assertEqual(oracle.xattrs_rel(self.dst, b"h1")["user.shared"], b"by all three names")
        self.assertEqual(oracle.xattrs_rel(self.dst, b"files/bin-attr")["user.bin"],
                         b"\x00\xff\n\x01")
        if self.acls:
            got = oracle.xattrs_rel(self.dst, b"acl-dir")
            self.assertIn("system.posix_acl_default", got)
            self.assertIn("system.posix_acl_access", got)
            # A file whose ACL was removed at the source, under a folder with a
            # default ACL: no ACL inherited at the destination either.
            self.assertEqual(oracle.xattrs_rel(self.dst, b"acl-dir/no-acl"), {})

    def test_transfer_log_names_every_item(self):
        self.assertSuccess(self.first)
        recs = oracle.read_log(self.log)
        done = {x["path"] for x in recs if x.get("event") == "Transferred"}
        want = {oracle.display_path(rel) for rel in self.src_walk if rel}
        self.assertEqual(want - done, set())
        verified = {x["path"] for x in recs if x.get("event") == "Verified"}
        files = {oracle.display_path(rel) for rel, st in self.src_walk.items()
                 if rel and not stat.S_ISDIR(st.st_mode)}
        self.assertEqual(files - verified, set())

    def test_second_run_transfers_nothing(self):
        for name, r in (("second", self.second), ("third (xattr-check ALWAYS)", self.third)):
            with self.subTest(run=name):
                self.assertSuccess(r)
                self.assertNoFailures(r)
                self.assertEqual((r["FilesTransferred"], r["FoldersTransferred"],
                                  r["BytesWritten"], r["FilesDeleted"]), (0, 0, 0, 0))
                self.assertEqual(r["EstimatedFilesToTransfer"], 0)
        diffs = oracle.compare_trees(self.src, self.dst, xattrs=True, links=True, holes=True)
        self.assertEqual(diffs, [], "trees differ:\n" + "\n".join(diffs))


class HardLinkChanges(FerryTestCase):
    """The destination follows the source's hard-link groups as they change."""

    def setUp(self):
        base = self.scratch()
        self.src = os.path.join(base, "src")
        self.dst = os.path.join(base, "dst")
        os.makedirs(os.path.join(self.src, "a"))
        oracle.write_file(os.path.join(self.src, "h1"), b"shared\n",
                          mtime_ns=1_500_000_000_000_000_001)
        self.h2 = os.path.join(self.src, "a", "h2")

    def assertSameLinks(self):
        diffs = oracle.compare_trees(self.src, self.dst, links=True)
        self.assertEqual(diffs, [], "\n".join(diffs))

    def test_names_joined_into_a_group(self):
        shutil.copy2(os.path.join(self.src, "h1"), self.h2)  # independent, identical
        self.assertSuccess(sync(self.src, self.dst))
        self.assertSameLinks()
        with oracle.keep_dir_mtime(os.path.join(self.src, "a")):
            os.unlink(self.h2)
            os.link(os.path.join(self.src, "h1"), self.h2)
        r = sync(self.src, self.dst)
        self.assertSuccess(r)
        self.assertSameLinks()

    def test_group_broken_with_identical_copy(self):
        # BUG: a name taken out of a hard-link group at the source (replaced
        # by an independent file with the same content, size and mtime, e.g.
        # `rm a/h2; cp -p h1 a/h2`) stays linked at the destination: the run
        # ends SUCCESS, later runs have nothing to do, and writing to one
        # name at the destination changes the other.
        os.link(os.path.join(self.src, "h1"), self.h2)
        self.assertSuccess(sync(self.src, self.dst))
        self.assertSameLinks()
        with oracle.keep_dir_mtime(os.path.join(self.src, "a")):
            os.unlink(self.h2)
            shutil.copy2(os.path.join(self.src, "h1"), self.h2)
        self.assertSuccess(sync(self.src, self.dst))
        self.assertSameLinks()

    def test_group_broken_with_different_permissions_converges(self):
        # BUG: as above, but the independent file gets mode 0600 (`rm a/h2;
        # cp -p h1 a/h2; chmod 600 a/h2`): ferry updates the metadata of
        # /a/h2 in place, which is still the inode of /h1 at the
        # destination, so /h1 gets 0600; verification fails (exit 1,
        # VerificationFailed); the next run puts /h1 back to 0644, which
        # gives /a/h2 0644, and so on: it never converges.
        os.link(os.path.join(self.src, "h1"), self.h2)
        self.assertSuccess(sync(self.src, self.dst))
        with oracle.keep_dir_mtime(os.path.join(self.src, "a")):
            os.unlink(self.h2)
            shutil.copy2(os.path.join(self.src, "h1"), self.h2)
            os.chmod(self.h2, 0o600)
        runs = [sync(self.src, self.dst) for _ in range(2)]
        self.assertEqual([r.status for r in runs], ["SUCCESS", "SUCCESS"],
                         runs[0].describe())
        self.assertEqual(runs[1]["FilesTransferred"], 0)
        self.assertTreesEqual(self.src, self.dst)
        self.assertSameLinks()


class _Holder:
    """Lets make_scratch register its cleanup from setUpClass."""

    def __init__(self, sink):
        self.sink = sink

    def addCleanup(self, fn, *args):
        self.sink.append((fn, args))


def build_mixed_tree(root, *, acls, devices):
    """Returns notes: {"timed": [paths given nanosecond times]}."""
    rng = random.Random(3)
    R = os.fsencode(root)

    def p(rel):
        return os.path.join(R, rel)

    timed = []
    for d in (b"a", b"b", b"b/deeper", b"files", b"devs", b"sticky-dir", b"setgid-dir",
              b"acl-dir", b"empty-dir", b"link-target-dir"):
        os.makedirs(p(d))
    # Regular and empty files, owners and modes.
    owners = [(0, 0), (1000, 1000), (1001, 100), (4242, 4243), (70000, 70001)]
    for i in range(12):
        owner = owners[i % len(owners)] if oracle.is_root() else None
        data = b"" if i % 4 == 0 else rng.randbytes(rng.randrange(1, 300_000))
        oracle.write_file(p(b"files/f%02d" % i), data, mode=rng.choice([0o644, 0o600, 0o755, 0o440]),
                          owner=owner, mtime_ns=ns(rng))
    oracle.write_file(p(b"empty"), b"", mode=0o600, mtime_ns=ns(rng))
    oracle.write_file(p(b"files/bin-attr"), b"attrs", mtime_ns=ns(rng))
    os.setxattr(p(b"files/bin-attr"), b"user.bin", b"\x00\xff\n\x01")
    os.setxattr(p(b"files/bin-attr"), b"user.empty", b"")
    # Sparse: 24 MiB with three islands of data, and a file that is all hole.
    with open(p(b"sparse.img"), "wb") as f:
        f.truncate(24 * MiB)
        for off in (0, 9 * MiB + 100, 24 * MiB - 4096):
            f.seek(off)
            f.write(rng.randbytes(4096))
    with open(p(b"all-hole.img"), "wb") as f:
        f.truncate(5 * MiB + 7)
    oracle.set_times(p(b"sparse.img"), ns(rng))
    oracle.set_times(p(b"all-hole.img"), ns(rng))
    # Special mode bits (owner first: chown clears set-id bits).
    for name, mode in ((b"suid", 0o4755), (b"sgid", 0o2755), (b"sgid-suid", 0o6711)):
        oracle.write_file(p(name), b"#!/bin/sh\n", mode=mode,
                          owner=(4242, 4243) if oracle.is_root() else None, mtime_ns=ns(rng))
    # Hard links: one file, three names in three folders; another of two names.
    oracle.write_file(p(b"h1"), rng.randbytes(70_000), mode=0o640, mtime_ns=ns(rng),
                      owner=(1000, 100) if oracle.is_root() else None)
    os.setxattr(p(b"h1"), b"user.shared", b"by all three names")
    os.link(p(b"h1"), p(b"a/h2"))
    os.link(p(b"h1"), p(b"b/deeper/h3"))
    oracle.write_file(p(b"files/pair-1"), b"", mtime_ns=ns(rng))
    os.link(p(b"files/pair-1"), p(b"b/pair-2"))
    # Symlinks: relative, absolute, dangling, to a folder, odd target bytes.
    links = {b"rel-link": b"files/f01", b"a/up-link": b"../h1", b"abs-link": b"/etc/passwd",
             b"dangling": b"no/such/thing", b"dir-link": b"link-target-dir",
             b"odd-target": b"odd\xff\n\\target\t", b"b/long-target": b"x/" * 900 + b"end"}
    for name, target in links.items():
        os.symlink(target, p(name))
        if oracle.is_root():
            os.lchown(p(name), 1000, 1000)
        oracle.set_times(p(name), ns(rng), ns(rng))
        timed.append(name)
    # A FIFO and a socket.
    os.mkfifo(p(b"a/fifo"), 0o620)
    if oracle.is_root():
        os.lchown(p(b"a/fifo"), 1001, 100)
    s = socket.socket(socket.AF_UNIX)
    cwd = os.getcwd()
    try:
        os.chdir(p(b"b"))  # a short name: socket paths are limited to 108 bytes
        s.bind(b"sock")
    finally:
        os.chdir(cwd)
        s.close()
    os.chmod(p(b"b/sock"), 0o751)
    for name in (b"a/fifo", b"b/sock"):
        oracle.set_times(p(name), ns(rng), ns(rng))
        timed.append(name)
    # Devices (root only).
    if devices:
        os.mknod(p(b"devs/chr"), 0o620 | stat.S_IFCHR, os.makedev(1, 3))
        os.mknod(p(b"devs/blk"), 0o660 | stat.S_IFBLK, os.makedev(7, 123))
        os.lchown(p(b"devs/blk"), 0, 6)
        for name in (b"devs/chr", b"devs/blk"):
            oracle.set_times(p(name), ns(rng), ns(rng))
            timed.append(name)
    # Extended attributes and ACLs on files and folders.
    os.setxattr(p(b"a"), b"user.folder", b"dir attr")
    if acls:
        setfacl("-m", "u:4321:r,g:4322:rw", p(b"files/f01"))
        setfacl("-m", "u:1000:rwx", p(b"a"))
        setfacl("-d", "-m", "u:4321:rx,g:4322:r", p(b"acl-dir"))
        setfacl("-m", "g:4323:rx", p(b"acl-dir"))
        oracle.write_file(p(b"acl-dir/inherited"), b"inherits the default ACL")
        oracle.write_file(p(b"acl-dir/no-acl"), b"its ACL removed")
        setfacl("-b", p(b"acl-dir/no-acl"))
        os.mkdir(p(b"acl-dir/sub"))  # inherits access and default ACLs
    else:
        oracle.write_file(p(b"acl-dir/no-acl"), b"no ACL here")
    for rel in (b"acl-dir/inherited", b"acl-dir/no-acl"):
        if os.path.exists(p(rel)):
            oracle.set_times(p(rel), ns(rng))
    # Folder metadata last, deepest first.
    dirs = [rel for rel, st in oracle.walk(root).items() if rel and stat.S_ISDIR(st.st_mode)]
    for rel in sorted(dirs, key=lambda r: -r.count(b"/")):
        if rel == b"sticky-dir":
            os.chmod(p(rel), 0o1777)
        elif rel == b"setgid-dir":
            os.chmod(p(rel), 0o2775)
        if oracle.is_root() and rel in (b"b", b"sticky-dir"):
            os.lchown(p(rel), 4242, 4243)
        oracle.set_times(p(rel), ns(rng), ns(rng))
        timed.append(rel)
    for rel, st in oracle.walk(root).items():
        if stat.S_ISREG(st.st_mode):
            timed.append(rel)
    return {"timed": sorted(set(timed))}


class OracleChecks(FerryTestCase):
    """The oracle's new checks can fail: broken hard links and filled holes."""

    def test_link_groups_and_holes_are_judged(self):
        base = self.scratch()
        a = os.path.join(base, "a")
        os.makedirs(os.path.join(a, "d"))
        oracle.write_file(os.path.join(a, "x"), b"linked")
        os.link(os.path.join(a, "x"), os.path.join(a, "d", "y"))
        with open(os.path.join(a, "sparse"), "wb") as f:
            f.truncate(4 * MiB)
        # A copy that breaks the link and fills the hole.
        b = os.path.join(base, "b")
        shutil.copytree(a, b, symlinks=True)
        with open(os.path.join(b, "sparse"), "wb") as f:
            f.write(b"\0" * (4 * MiB))
        shutil.copystat(os.path.join(a, "sparse"), os.path.join(b, "sparse"))
        for rel in ("", "d"):
            shutil.copystat(os.path.join(a, rel), os.path.join(b, rel))
        self.assertEqual(oracle.compare_trees(a, b), [])
        diffs = oracle.compare_trees(a, b, links=True, holes=True)
        self.assertEqual(len(diffs), 2, diffs)
        self.assertIn("hard-link group {/d/y, /x} not kept", diffs[1])
        self.assertIn("/sparse", diffs[0])
        self.assertIn("holes filled", diffs[0])


if __name__ == "__main__":
    unittest.main()
