"""End-to-end: Azure Blob to S3, object store to object store.

A local tree goes to an Azurite container, from there to a radosgw bucket
(`ferry sync AZURE_URL s3://BUCKET`), and back to local disk from the
bucket: it must come back identical (content, modes, owners and nanosecond
mtimes travel as each store's metadata), and the container-to-bucket re-run
transfers nothing.

Under ctest the ferry_azurite and ferry_radosgw fixtures provide the
servers; by hand the module starts its own:

    cd tests/e2e && FERRY_BIN=$PWD/../../build-asan/ferry python3 -m unittest -v test_azure_s3
"""

import os

import oracle
import s3
import test_azure_sync as azure
from oracle import FerryTestCase


def setUpModule():
    azure.setUpModule()
    s3.server()


def tearDownModule():
    s3.stop_own_server()


class AzureToS3(FerryTestCase):
    def run_sync(self, src, dst, *opts):
        server = s3.server()
        env = server.aws_env()
        env["FERRY_AZURE_KEY"] = azure.AZ["FERRY_TEST_AZURE_KEY"]
        env.pop("FERRY_AZURE_SAS", None)
        return oracle.sync(src, dst, "--endpoint-url", server.endpoint, *opts, env=env,
                           timeout=300)

    def test_local_to_azure_to_s3_to_local(self):
        src = self.scratch("src")
        oracle.make_tree(src, 41, files=40, dirs=6, odd_names=False, deep=False,
                         fifos=False, symlinks=False)
        oracle.write_file(os.path.join(src, "big.bin"), os.urandom(20 * (1 << 20) + 7))
        os.symlink("big.bin", os.path.join(src, "link"))
        container = azure.url(azure.fresh())
        bucket = s3.server().fresh_bucket(self, "azure")
        self.assertSuccess(self.run_sync(src, container))
        across = self.run_sync(container, f"s3://{bucket}/copy")
        self.assertSuccess(across)
        self.assertNoFailures(across)
        again = self.run_sync(container, f"s3://{bucket}/copy")
        self.assertSuccess(again)
        self.assertEqual(again["FilesTransferred"], 0, again.describe())
        back = self.scratch("back")
        self.assertSuccess(self.run_sync(f"s3://{bucket}/copy", back))
        diffs = oracle.compare_trees(src, back, root=False)
        self.assertEqual(diffs, [], "trees differ:\n" + "\n".join(diffs[:50]))


if __name__ == "__main__":
    import unittest
    unittest.main()
