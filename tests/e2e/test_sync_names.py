"""End-to-end: hostile names. Non-UTF-8 bytes, newlines, tabs, backslashes,
control bytes, 255-byte names, a path of about 4,096 bytes and a tree 200
folders deep are transferred exactly, and every one of them appears escaped
(one record per line, valid JSON, valid UTF-8) in the TRANSFER log and in the
STANDARD task report.

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_sync_names
"""

import json
import os
import stat
import unittest

import oracle
from oracle import FerryTestCase, sync

NAMES = [
    b"new\nline",
    b"lit\\n",  # a backslash and an n: must not look like the newline above
    b"cr\rreturn",
    b"tab\tname",
    b"back\\slash",
    b"ctl\x01\x1b\x7f",
    b"\xff\xfe-not-utf8",
    b"latin1-caf\xe9",
    b"overlong-\xc0\xaf",
    b"surrogate-\xed\xa0\x80",
    b"truncated-\xe2\x82",
    "ünïcødé-日本語-😀".encode(),
    b'quote"and\'apostrophe',
    b" spaces ",
    b"a" * 255,
    "é".encode() * 127 + b"x",
    "😀".encode() * 63 + b"xyz",  # 255 bytes of four-byte characters
    b"\xff" * 255,
]
ODD_DIRS = [b"dir\nwith\nnewlines", b"dir\\back", b"dir-\xfe\xff", b"dir\ttab"]
DEPTH = 200


def build(root):
    R = os.fsencode(root)
    os.makedirs(R)
    rels = []
    for i, name in enumerate(NAMES):
        oracle.write_file(os.path.join(R, name), name + b"\n", mtime_ns=1_400_000_000_000_000_001 + i)
        rels.append(name)
    for d in ODD_DIRS:
        os.mkdir(os.path.join(R, d))
        for name in NAMES[:8]:
            oracle.write_file(os.path.join(R, d, name), d + b"/" + name)
            rels.append(d + b"/" + name)
        oracle.set_times(os.path.join(R, d), 1_300_000_000_123_456_789)
    os.symlink(b"target\n\xff\\\t", os.path.join(R, b"link\xfe\nodd"))
    # A 200-level-deep tree.
    fd = os.open(R, os.O_RDONLY | os.O_DIRECTORY)
    deep = []
    try:
        for i in range(DEPTH):
            name = b"d%03d" % i
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
            deep.append(name)
        wfd = os.open(b"bottom\n\xff", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd)
        os.write(wfd, b"200 levels down\n")
        os.close(wfd)
    finally:
        os.close(fd)
    deep_file = b"/".join(deep + [b"bottom\n\xff"])
    # A path of 4,095 bytes: 15 folders of 255-byte names and a 255-byte file.
    fd = os.open(R, os.O_RDONLY | os.O_DIRECTORY)
    parts = []
    try:
        for i in range(15):
            name = (b"%02d-" % i) + (b"\xce\xbb" if i % 2 else b"n") * (251 // (2 if i % 2 else 1))
            name = name[:255].ljust(255, b"z")
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
            parts.append(name)
        last = b"\\" + b"q" * 253 + b"\n"
        wfd = os.open(last, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(wfd, b"about 4 KiB of path\n")
        os.close(wfd)
        parts.append(last)
    finally:
        os.close(fd)
    long_file = b"/".join(parts)
    return deep_file, long_file


def read_lines_strict(path):
    """The log as raw lines: each must be UTF-8 and one JSON object."""
    with open(path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")  # strict: raises on any invalid byte
    lines = text.split("\n")
    assert lines[-1] == "", "log does not end with a newline"
    return [json.loads(line) for line in lines[:-1]]


class HostileNames(FerryTestCase):
    @classmethod
    def setUpClass(cls):
        cls._cleanup = []
        holder = type("H", (), {"addCleanup": lambda self, fn, *a: cls._cleanup.append((fn, a))})()
        base = oracle.make_scratch(holder, prefix="ferry-e2e3-names-")
        cls.src = os.path.join(base, "src")
        cls.dst = os.path.join(base, "dst")
        cls.log = os.path.join(base, "log.jsonl")
        cls.reports = os.path.join(base, "reports")
        cls.deep_file, cls.long_file = build(cls.src)
        cls.walk = oracle.walk(cls.src)
        cls.first = sync(cls.src, cls.dst, "--log-level", "TRANSFER", "--log-file", cls.log,
                       "--task-report-dir", cls.reports, "--report-output-type", "STANDARD",
                       "--report-level", "SUCCESSES_AND_ERRORS")

    @classmethod
    def tearDownClass(cls):
        for fn, args in reversed(cls._cleanup):
            fn(*args)

    def expected_paths(self, *, folders=True):
        return {oracle.display_path(rel) for rel, st in self.walk.items()
                if rel and (folders or not stat.S_ISDIR(st.st_mode))}

    def test_tree_is_hostile(self):
        self.assertEqual(len(self.long_file), 4095)
        self.assertEqual(self.deep_file.count(b"/"), DEPTH)
        self.assertIn(self.deep_file, self.walk)
        self.assertIn(self.long_file, self.walk)
        self.assertGreater(len(os.path.join(os.fsencode(self.src), self.long_file)), 4096)

    def test_transferred_exactly(self):
        self.assertSuccess(self.first)
        self.assertNoFailures(self.first)
        stats = oracle.tree_stats(self.src)
        self.assertEqual(self.first["FilesTransferred"], stats["files"])
        self.assertEqual(self.first["FoldersTransferred"], stats["folders"] - 1)
        self.assertTreesEqual(self.src, self.dst)
        self.assertEqual(oracle.digest_rel(self.dst, self.long_file),
                         oracle.digest_rel(self.src, self.long_file))
        self.assertEqual(oracle.digest_rel(self.dst, self.deep_file),
                         oracle.digest_rel(self.src, self.deep_file))

    def test_log_one_valid_record_per_line(self):
        self.assertSuccess(self.first)
        records = read_lines_strict(self.log)
        self.assertEqual(records, oracle.read_log(self.log))
        for rec in records:
            self.assertIsInstance(rec, dict)
            if "path" in rec:
                self.assertNotIn("\n", rec["path"])
                self.assertNotIn("\t", rec["path"])
                self.assertNotIn("\ufffd", rec["path"])  # escaped, not replaced

    def test_log_names_every_item_escaped(self):
        self.assertSuccess(self.first)
        records = read_lines_strict(self.log)
        transferred = [x["path"] for x in records if x.get("event") == "Transferred"]
        self.assertEqual(sorted(transferred), sorted(self.expected_paths()))
        verified = {x["path"] for x in records if x.get("event") == "Verified"}
        self.assertEqual(self.expected_paths(folders=False) - verified, set())
        # Spelled out for a few, independently of display_path().
        for shown in ("/new\\nline", "/lit\\\\n", "/cr\\rreturn", "/tab\\tname",
                      "/back\\\\slash", "/ctl\\x01\\x1B\\x7F", "/\\xFF\\xFE-not-utf8",
                      "/latin1-caf\\xE9", "/overlong-\\xC0\\xAF",
                      "/surrogate-\\xED\\xA0\\x80", "/truncated-\\xE2\\x82",
                      "/ünïcødé-日本語-😀", "/dir\\nwith\\nnewlines/tab\\tname",
                      "/dir-\\xFE\\xFF/back\\\\slash", "/" + "\\xFF" * 255):
            self.assertIn(shown, transferred)

    def test_report_lists_every_item_escaped(self):
        self.assertSuccess(self.first)
        rep = oracle.TaskReportFiles(self.reports)
        for name in rep.names:  # every report file is strict UTF-8 JSON
            with open(os.path.join(rep.folder, name), "rb") as f:
                json.loads(f.read().decode("utf-8"))
        transferred = rep.by_path("transferred")
        self.assertEqual(set(transferred), self.expected_paths())
        verified = rep.by_path("verified")
        self.assertEqual(self.expected_paths(folders=False) - set(verified), set())
        long_shown = oracle.display_path(self.long_file)
        self.assertIn(long_shown, transferred)
        self.assertEqual(transferred[long_shown]["SrcMetadata"]["ContentSize"],
                         len(b"about 4 KiB of path\n"))
        link = transferred["/link\\xFE\\nodd"]
        self.assertEqual(link["SrcMetadata"]["Type"], "SymbolicLink")
        self.assertEqual(link["SrcMetadata"].get("LinkTarget"), "target\\n\\xFF\\\\\\t")

    def test_second_run_has_nothing_to_do(self):
        self.assertSuccess(self.first)
        r = sync(self.src, self.dst)
        self.assertSuccess(r)
        self.assertEqual((r["FilesTransferred"], r["FoldersTransferred"]), (0, 0))


class NamesLikeFerryTemporaries(FerryTestCase):
    def test_source_items_named_like_temporaries_are_copied(self):
        # BUG: every source item whose name starts with ".ferry-tmp-" is
        # hidden by the scan, folders with all their contents, even names
        # that are not of the form ferry gives its own temporary files
        # (".ferry-tmp-<pid hex>-<n>"): `ferry sync SRC DST` with
        # SRC/.ferry-tmp-notes/a.txt and SRC/.ferry-tmp-notapid ends SUCCESS,
        # FilesListed.AtSource and FilesSkipped leave them out, no log line
        # names them, and they never reach DST. DataSync copies everything
        # but ".snapshot" paths and its own working folder at the root.
        base = self.scratch()
        src = os.path.join(base, "src")
        dst = os.path.join(base, "dst")
        os.makedirs(os.path.join(src, ".ferry-tmp-notes"))
        oracle.write_file(os.path.join(src, ".ferry-tmp-notes", "a.txt"), b"user data")
        oracle.write_file(os.path.join(src, ".ferry-tmp-notapid"), b"user data too")
        oracle.write_file(os.path.join(src, "ordinary"), b"ordinary")
        r = sync(src, dst)
        self.assertSuccess(r)
        self.assertEqual(r["FilesListed.AtSource"], 3)
        self.assertTreesEqual(src, dst)


if __name__ == "__main__":
    unittest.main()
