"""End-to-end: Azure Blob locations through `ferry server` and a `ferry agent`,
against Azurite (tests/support/azurite.sh).

The locations are made with the real `aws datasync` CLI, as a DataSync user
would (create-location-azure-blob with a ContainerUrl, SAS authentication and
the token in SasConfiguration); the agent is started with
--azure-endpoint-url, since DataSync's ContainerUrl takes only https hosts
and Azurite serves its account on a path. Local to Azure and back, compared
file by file with the original; the no-change re-run transfers nothing;
Azure to S3 (a radosgw bucket as CreateLocationObjectStorage) and back to
local disk, identical; a read-only token used as a destination, an expired
token and a missing container each end the execution ERROR naming the
cause, without the token anywhere in what the API returns; a location
updated with a token that can write then succeeds; a container served by a
second agent takes a tree from the first over the link (agent to agent),
and the first reads it back over the link to the second's disk, identical.

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_azure_control
(FERRY_TEST_AZURE_STATE and FERRY_TEST_S3_STATE: the fixtures' Azurite and
radosgw; without them the module starts its own).
"""

import datetime
import json
import os
import stat
import unittest

import control
import oracle
import s3
import test_azure_sync as azure
from test_s3_control import port_of
from test_smb_control import AgentTasks

CTL = None
S3 = None


def setUpModule():
    global CTL, S3
    control.need_boto3()
    azure.setUpModule()
    unittest.addModuleCleanup(s3.stop_own_server)
    S3 = s3.server()
    CTL = control.Control.start(
        control.ModuleCleanups(),
        agent_args=["--azure-endpoint-url", azure.AZ["FERRY_TEST_AZURE_ENDPOINT"]])


class AzureControl(AgentTasks, oracle.FerryTestCase):
    def setUp(self):
        self.ctl = CTL
        CTL.ensure_agents()

    def azure_location(self, folder, token=None, tier=None, agent_arn=None):
        account = azure.AZ["FERRY_TEST_AZURE_ACCOUNT"]
        container = azure.AZ["FERRY_TEST_AZURE_CONTAINER"]
        # As JSON input: the aws CLI would fetch an https:// parameter.
        request = {
            "ContainerUrl": f"https://{account}.blob.core.windows.net/{container}",
            "Subdirectory": f"/{folder}",
            "AuthenticationType": "SAS",
            "SasConfiguration": {"Token": token or azure.AZ["FERRY_TEST_AZURE_SAS"]},
            "AgentArns": [agent_arn or self.ctl.agent_arn],
        }
        if tier:
            request["AccessTier"] = tier
        return self.ctl.aws("create-location-azure-blob", "--cli-input-json",
                            json.dumps(request))["LocationArn"]

    def object_storage(self, bucket, subdirectory):
        return self.ctl.aws(
            "create-location-object-storage", "--server-hostname", "127.0.0.1",
            "--server-port", str(port_of(S3.endpoint)), "--server-protocol", "HTTP",
            "--bucket-name", bucket, "--subdirectory", subdirectory,
            "--access-key", S3.access_key, "--secret-key", S3.secret_key,
            "--agent-arns", self.ctl.agent_arn)["LocationArn"]

    def assertErrorNaming(self, d, pattern, secret):
        self.assertEqual(d["Status"], "ERROR", d)
        self.assertRegex(d["Result"].get("ErrorDetail", ""), pattern, d)
        self.assertNotIn(secret, json.dumps(d, default=str) + self.ctl.logs())

    def test_local_to_azure_and_back_and_the_no_change_re_run(self):
        src = os.path.join(self.scratch(), "src")
        oracle.make_tree(src, 31, files=40, dirs=6, odd_names=False, deep=False,
                         fifos=False, symlinks=False)
        folder = azure.fresh()
        blob = self.azure_location(folder, tier="COOL")
        described = CTL.aws("describe-location-azure-blob", "--location-arn", blob)
        self.assertNotIn(azure.AZ["FERRY_TEST_AZURE_SAS"], json.dumps(described))
        self.assertEqual(described["AccessTier"], "COOL", described)
        up = self.task(self.local(src), blob)
        self.assertSucceeded(self.run_task(up))
        # The location's AccessTier, as Azure reports each blob's.
        name = min(rel for rel, st in oracle.walk(src).items() if stat.S_ISREG(st.st_mode))
        headers = azure.blob_headers(f"{folder}/{os.fsdecode(name)}")
        self.assertEqual(headers.get("x-ms-access-tier"), "Cool", headers)
        again = self.run_task(up)
        self.assertSucceeded(again)
        self.assertEqual(again["FilesTransferred"], 0, again)

        back = os.path.join(self.scratch(), "back")
        d = self.run_task(self.task(blob, self.local(back)))
        self.assertSucceeded(d)
        diffs = oracle.compare_trees(src, back, root=False)
        self.assertEqual(diffs, [], "trees differ:\n" + "\n".join(diffs[:50]))

    def test_a_read_only_token_as_destination_ends_error_until_updated(self):
        src = os.path.join(self.scratch(), "src")
        os.makedirs(src)
        oracle.write_file(os.path.join(src, "a.txt"), b"a\n")
        ro = azure.AZ["FERRY_TEST_AZURE_SAS_READ_ONLY"]
        location = self.azure_location(azure.fresh(), ro)
        task = self.task(self.local(src), location)
        d = self.run_task(task)
        self.assertErrorNaming(d, r"SAS token allows 'rl'; a destination needs", ro)
        # UpdateLocationAzureBlob with a token that can write: the agent
        # takes it for the next execution.
        update = {"LocationArn": location, "AuthenticationType": "SAS",
                  "SasConfiguration": {"Token": azure.AZ["FERRY_TEST_AZURE_SAS"]}}
        self.ctl.aws("update-location-azure-blob", "--cli-input-json", json.dumps(update))
        self.assertSucceeded(self.run_task(task))

    def test_an_expired_token_and_a_missing_container_end_error_naming_them(self):
        src = os.path.join(self.scratch(), "src")
        os.makedirs(src)
        oracle.write_file(os.path.join(src, "a.txt"), b"a\n")
        past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
        expired = azure.service_sas("racwdl", past)
        d = self.run_task(self.task(self.azure_location(azure.fresh(), expired),
                                    self.local(os.path.join(self.scratch(), "dst"))))
        self.assertErrorNaming(d, r"SAS token expired at", expired)

        # A valid token for a container that is not there (deleted, say).
        future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
        token = azure.service_sas("racwdl", future, container="no-such-container")
        account = azure.AZ["FERRY_TEST_AZURE_ACCOUNT"]
        request = {
            "ContainerUrl": f"https://{account}.blob.core.windows.net/no-such-container",
            "AuthenticationType": "SAS",
            "SasConfiguration": {"Token": token},
            "AgentArns": [self.ctl.agent_arn],
        }
        missing = self.ctl.aws("create-location-azure-blob", "--cli-input-json",
                               json.dumps(request))["LocationArn"]
        d = self.run_task(self.task(self.local(src), missing))
        self.assertErrorNaming(d, r"no-such-container.*container does not exist", token)

    def test_azure_to_s3_and_back_to_local(self):
        src = os.path.join(self.scratch(), "src")
        oracle.make_tree(src, 37, files=30, dirs=4, odd_names=False, deep=False,
                         fifos=False, symlinks=False)
        oracle.write_file(os.path.join(src, "big.bin"), os.urandom(9 * (1 << 20) + 3))
        blob = self.azure_location(azure.fresh())
        self.assertSucceeded(self.run_task(self.task(self.local(src), blob)))
        bucket = S3.fresh_bucket(self, "azctl")
        bucket_location = self.object_storage(bucket, "/copy")
        across = self.task(blob, bucket_location)
        self.assertSucceeded(self.run_task(across))
        again = self.run_task(across)
        self.assertSucceeded(again)
        self.assertEqual(again["FilesTransferred"], 0, again)
        back = os.path.join(self.scratch(), "back")
        self.assertSucceeded(self.run_task(self.task(bucket_location, self.local(back))))
        diffs = oracle.compare_trees(src, back, root=False)
        self.assertEqual(diffs, [], "trees differ:\n" + "\n".join(diffs[:50]))

    def test_azure_behind_the_receiving_agent_of_a_link(self):
        # A second agent serves the container and takes the data over the
        # link from the first, which reads the local tree.
        receiver = CTL.link_receiver(
            ["--azure-endpoint-url", azure.AZ["FERRY_TEST_AZURE_ENDPOINT"]])
        src = os.path.join(self.scratch(), "src")
        oracle.make_tree(src, 41, files=30, dirs=4, odd_names=False, deep=False,
                         fifos=False, symlinks=False)
        oracle.write_file(os.path.join(src, "big.bin"), os.urandom(21 * (1 << 20) + 9))
        folder = azure.fresh()
        up = self.task(self.local(src), self.azure_location(folder, agent_arn=receiver.arn))
        self.run_over_link(up, receiver)
        again = self.run_task(up)
        self.assertSucceeded(again)
        self.assertEqual(again["FilesTransferred"], 0, again)
        # Back the other way: the first agent reads the container and the
        # second writes its own disk, over the link again.
        back = os.path.join(self.scratch(), "back")
        self.run_over_link(self.task(self.azure_location(folder), self.local(back, receiver.arn)),
                           receiver)
        diffs = oracle.compare_trees(src, back, root=False)
        self.assertEqual(diffs, [], "trees differ:\n" + "\n".join(diffs[:50]))


if __name__ == "__main__":
    import unittest
    unittest.main()
