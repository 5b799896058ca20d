"""End-to-end: the DataSync operations test_control_flow does not drive.

One `ferry server` (SQLite) and one `ferry agent` for the module, driven with
boto3's datasync client (ferry's own *LocationLocal operations as hand-signed
requests). Covered here:

- agents: UpdateAgent, ListAgents, DeleteAgent of a second activated agent
  (refused while a location names it; afterwards DescribeAgent fails naming
  it and the server closes and refuses the agent's channel);
- locations of every type the server records (NFS, SMB, object storage,
  Azure Blob, HDFS, LOCAL): Create/Describe/Update, ListLocations with each
  filter, DeleteLocation; the secrets given (SMB Password and Kerberos files,
  SecretKey, the SAS token, HDFS keytab and krb5.conf) never come back in any
  response, never reach the server's or the agent's log, nor its data directory
  unsealed;
- tasks: UpdateTask (Name, Options merged, Excludes, Schedule set, disabled
  and removed; a bad schedule changes nothing), ListTasks filters, tags;
- executions: a task between a LOCAL and a non-LOCAL location ends ERROR
  UnsupportedLocationType; OverrideOptions, Includes and Excludes of one
  StartTaskExecution apply to that execution only (checked on the
  destination tree); DescribeTaskExecution and ListTaskExecutions;
- every response of the module against botocore's DataSync model.

Run: cd tests/e2e && FERRY_BIN=/path/to/ferry python3 -m unittest -v test_control_api
"""

import base64
import json
import os
import time
import types
import unittest
import uuid

import control
import oracle
from control import client_error, wait_for

CTL = None

# A token in every hostname/path of this module, so that ListLocations
# filters can be checked for exact sets.
TOKEN = "ctlapi" + uuid.uuid4().hex[:8]

# Every secret given to the server (as str); SecretsNeverLeave looks for
# them (and their base64 forms) everywhere.
SECRETS = []


def secret(name):
    s = f"{name}-{uuid.uuid4().hex}"
    SECRETS.append(s)
    return s


def setUpModule():
    global CTL
    control.need_boto3()
    CTL = control.Control.start(control.ModuleCleanups())




def utc_text(epoch_seconds):
    """A CreationTime filter value: UTC yyyy-MM-dd HH:mm:ss."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_seconds))


def epoch(dt):
    """botocore's timestamps are aware datetimes."""
    return dt.timestamp()


def secret_forms(s):
    """The ways a secret could appear in a response body: as given, and
    base64-encoded (the wire form of a blob)."""
    raw = s.encode()
    return [raw, base64.b64encode(raw)]


# The ids of the tests that ran: when all of them did, tearDownModule checks
# that together they drove every operation this module is about.
RAN = set()


class ApiCase(oracle.FerryTestCase):
    def setUp(self):
        super().setUp()
        RAN.add(self.id())

    @property
    def c(self):
        return CTL.client()

    def local(self, path, agent_arn=None):
        os.makedirs(path, exist_ok=True)
        return CTL.create_location_local(path, [agent_arn or CTL.agent_arn])

    def assertNoSecret(self, response):
        text = json.dumps(response, default=repr)
        for s in SECRETS:
            self.assertNotIn(s, text)
            self.assertNotIn(base64.b64encode(s.encode()).decode(), text)

    def assertInvalid(self, fn, *args, words=(), **kw):
        code, msg, status, _ = client_error(self, fn, *args, **kw)
        self.assertEqual((code, status), ("InvalidRequestException", 400), msg)
        for w in words:
            self.assertIn(w, msg)
        return msg


# --------------------------------------------------------------------------
# Agents


class Agents(ApiCase):
    def test_update_agent_renames_it(self):
        arn = CTL.agent_arn
        before = self.c.describe_agent(AgentArn=arn)
        self.assertEqual(before["Name"], CTL.agent.name)
        self.addCleanup(self.c.update_agent, AgentArn=arn, Name=CTL.agent.name)
        self.c.update_agent(AgentArn=arn, Name=f"renamed-{TOKEN}")
        after = self.c.describe_agent(AgentArn=arn)
        self.assertEqual(after["Name"], f"renamed-{TOKEN}")
        self.assertEqual(after["Status"], "ONLINE")
        self.assertEqual(after["CreationTime"], before["CreationTime"])
        listed = {a["AgentArn"]: a for a in self.c.list_agents()["Agents"]}
        self.assertEqual(listed[arn]["Name"], f"renamed-{TOKEN}")
        self.assertEqual(listed[arn]["Status"], "ONLINE")
        # An UpdateAgent without Name changes nothing.
        self.c.update_agent(AgentArn=arn)
        self.assertEqual(self.c.describe_agent(AgentArn=arn)["Name"], f"renamed-{TOKEN}")
        # Unknown agent.
        unknown = arn[:-17] + "0123456789abcdefg"
        self.assertInvalid(self.c.update_agent, AgentArn=unknown, Name="x", words=(unknown,))

    def test_delete_a_second_agent(self):
        second = CTL.add_agent(f"second-{TOKEN}")
        self.addCleanup(self._forget_agent, second)
        listed = {a["AgentArn"]: a for a in self.c.list_agents()["Agents"]}
        self.assertIn(CTL.agent_arn, listed)
        self.assertIn(second.arn, listed)
        self.assertEqual(listed[second.arn]["Status"], "ONLINE")
        self.assertEqual(listed[second.arn]["Name"], f"second-{TOKEN}")
        # Paged one at a time, both are there.
        seen, token = [], None
        while True:
            kw = {"MaxResults": 1}
            if token:
                kw["NextToken"] = token
            page = self.c.list_agents(**kw)
            seen += [a["AgentArn"] for a in page["Agents"]]
            token = page.get("NextToken")
            if not token:
                break
        self.assertEqual(sorted(seen), sorted(listed))

        # A location names it: refused, naming the location.
        loc = self.local(os.path.join(self.scratch(), "on-second"), second.arn)
        self.assertInvalid(self.c.delete_agent, AgentArn=second.arn, words=(second.arn, loc))
        self.c.delete_location(LocationArn=loc)

        self.c.delete_agent(AgentArn=second.arn)
        msg = self.assertInvalid(self.c.describe_agent, AgentArn=second.arn,
                                 words=(second.arn,))
        self.assertIn("does not exist", msg)
        self.assertNotIn(second.arn, {a["AgentArn"] for a in self.c.list_agents()["Agents"]})
        self.assertInvalid(self.c.delete_agent, AgentArn=second.arn, words=(second.arn,))
        self.assertInvalid(self.c.update_agent, AgentArn=second.arn, Name="back",
                           words=(second.arn,))
        # It cannot be named by a location any more.
        status, _, r = CTL.raw("CreateLocationLocal", {"Path": "/tmp",
                                                       "AgentArns": [second.arn]})
        self.assertEqual(status, 400, r)
        self.assertEqual(r["__type"], "InvalidRequestException")
        self.assertIn(second.arn, r["message"])
        # The server closes its channel at once and refuses it when it
        # comes back (the agent's certificate names an agent it no longer
        # has).
        agent_id = second.arn.rsplit("/", 1)[1]
        wait_for(lambda: f"channel of {agent_id}" in control.tail(CTL.server.log, 400)
                 and "not registered" in control.tail(CTL.server.log, 400), 20, 0.25,
                 "the server to refuse the deleted agent's channel", CTL.logs)
        self.assertInvalid(self.c.describe_agent, AgentArn=second.arn)
        self.assertEqual(self.c.describe_agent(AgentArn=CTL.agent_arn)["Status"], "ONLINE")

    @staticmethod
    def _forget_agent(agent):
        agent.stop()
        if agent in CTL.agents:
            CTL.agents.remove(agent)


# --------------------------------------------------------------------------
# Locations


def create_every_type(cleanups, token):
    """One location of every type the server records (two SMB, two HDFS), each
    with the secrets its type takes (registered in SECRETS), every hostname
    and path carrying `token`. `cleanups` (a TestCase, or ClassCleanups)
    removes the LOCAL location's folder. Returns a namespace: .nfs, .smb, ... , .mine (type ->
    ARNs), .all_mine, .t_before/.t_after (epoch seconds around the creation)."""
    L = types.SimpleNamespace()
    c = CTL.client()
    agent = CTL.agent_arn
    L.t_before = int(time.time())
    L.smb_password = secret("smb-password")
    L.smb_keytab = secret("smb-keytab")
    L.smb_krb5 = secret("smb-krb5conf")
    L.s3_secret = secret("object-secret-key")
    L.sas_token = "sp=rl&sig=" + secret("sas-token")
    SECRETS.append(L.sas_token)
    L.hdfs_keytab = secret("hdfs-keytab")
    L.hdfs_krb5 = secret("hdfs-krb5conf")
    L.cert = b"-----BEGIN CERTIFICATE-----\nMIIBnot-a-real-one\n-----END CERTIFICATE-----\n"

    L.nfs = c.create_location_nfs(
        ServerHostname=f"nfs.{token}.example.com", Subdirectory="/export/data",
        OnPremConfig={"AgentArns": [agent]}, MountOptions={"Version": "NFS4_1"},
        Tags=[{"Key": "kind", "Value": "nfs"}])["LocationArn"]
    L.smb = c.create_location_smb(
        ServerHostname=f"smb.{token}.example.com", Subdirectory="/share/dir",
        User="alice", Domain="CORP", Password=L.smb_password, AgentArns=[agent],
        MountOptions={"Version": "SMB3"}, AuthenticationType="NTLM",
        DnsIpAddresses=["10.0.0.53"])["LocationArn"]
    L.smb_kerberos = c.create_location_smb(
        ServerHostname=f"smbk.{token}.example.com", Subdirectory="/share",
        AgentArns=[agent], AuthenticationType="KERBEROS",
        KerberosPrincipal="HOST/smbk@EXAMPLE.COM", KerberosKeytab=L.smb_keytab.encode(),
        KerberosKrb5Conf=L.smb_krb5.encode())["LocationArn"]
    L.obj = c.create_location_object_storage(
        ServerHostname=f"minio.{token}.example.com", BucketName="bucket",
        Subdirectory="/prefix", AccessKey="AKIDEXAMPLE", SecretKey=L.s3_secret,
        ServerCertificate=L.cert, AgentArns=[agent])["LocationArn"]
    L.azure = c.create_location_azure_blob(
        ContainerUrl=f"https://{token}.blob.core.windows.net/container1",
        AuthenticationType="SAS", SasConfiguration={"Token": L.sas_token},
        Subdirectory="/dir", AgentArns=[agent])["LocationArn"]
    L.hdfs = c.create_location_hdfs(
        NameNodes=[{"Hostname": f"namenode.{token}.example.com", "Port": 8020}],
        Subdirectory="/data", AuthenticationType="KERBEROS",
        KerberosPrincipal="hdfs/namenode@EXAMPLE.COM",
        KerberosKeytab=L.hdfs_keytab.encode(), KerberosKrb5Conf=L.hdfs_krb5.encode(),
        QopConfiguration={"RpcProtection": "PRIVACY", "DataTransferProtection": "PRIVACY"},
        KmsKeyProviderUri="kms://http@kms.example.com:9600/kms",
        AgentArns=[agent])["LocationArn"]
    L.hdfs_simple = c.create_location_hdfs(
        NameNodes=[{"Hostname": f"nn2.{token}.example.com", "Port": 9000}],
        Subdirectory="/simple", AuthenticationType="SIMPLE", SimpleUser="hadoop",
        BlockSize=67108864, ReplicationFactor=2, AgentArns=[agent])["LocationArn"]
    base = oracle.make_scratch(cleanups)
    L.local_path = os.path.join(base, token, "local")
    os.makedirs(L.local_path)
    L.local_arn = CTL.create_location_local(L.local_path)
    L.t_after = int(time.time())
    L.mine = {"NFS": [L.nfs], "SMB": [L.smb, L.smb_kerberos],
              "OBJECT_STORAGE": [L.obj], "AZURE_BLOB": [L.azure],
              "HDFS": [L.hdfs, L.hdfs_simple], "LOCAL": [L.local_arn]}
    L.all_mine = {a for v in L.mine.values() for a in v}
    return L


class Locations(ApiCase):
    """One location of every type, created in setUpClass with secrets."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for k, v in vars(create_every_type(control.ClassCleanups(cls), TOKEN)).items():
            setattr(cls, k, v)

    def assertCreationTime(self, d):
        t = epoch(d["CreationTime"])
        self.assertGreaterEqual(t, self.t_before)
        self.assertLess(t, self.t_after + 2)

    def uri(self, arn):
        got = {x["LocationArn"]: x["LocationUri"] for x in self.c.list_locations()["Locations"]}
        return got[arn]

    # Every type ---------------------------------------------------------

    def test_nfs(self):
        d = self.c.describe_location_nfs(LocationArn=self.nfs)
        self.assertNoSecret(d)
        self.assertEqual(d["LocationArn"], self.nfs)
        self.assertEqual(d["LocationUri"], f"nfs://nfs.{TOKEN}.example.com/export/data/")
        self.assertEqual(d["OnPremConfig"], {"AgentArns": [CTL.agent_arn]})
        self.assertEqual(d["MountOptions"], {"Version": "NFS4_1"})
        self.assertCreationTime(d)
        self.assertEqual(self.c.list_tags_for_resource(ResourceArn=self.nfs)["Tags"],
                         [{"Key": "kind", "Value": "nfs"}])
        self.c.update_location_nfs(LocationArn=self.nfs, Subdirectory="/export/other",
                                   MountOptions={"Version": "NFS3"})
        d = self.c.describe_location_nfs(LocationArn=self.nfs)
        self.assertEqual(d["LocationUri"], f"nfs://nfs.{TOKEN}.example.com/export/other/")
        self.assertEqual(d["MountOptions"], {"Version": "NFS3"})
        self.assertEqual(d["OnPremConfig"], {"AgentArns": [CTL.agent_arn]})
        self.assertEqual(self.uri(self.nfs), d["LocationUri"])
        # Every agent named must exist; a refused update changes nothing.
        unknown = CTL.agent_arn[:-17] + "0123456789abcdefg"
        self.assertInvalid(self.c.update_location_nfs, LocationArn=self.nfs,
                           Subdirectory="/export/never", OnPremConfig={"AgentArns": [unknown]},
                           words=(unknown,))
        d = self.c.describe_location_nfs(LocationArn=self.nfs)
        self.assertEqual(d["LocationUri"], f"nfs://nfs.{TOKEN}.example.com/export/other/")
        self.assertEqual(d["OnPremConfig"], {"AgentArns": [CTL.agent_arn]})
        # Another type's Describe refuses it.
        self.assertInvalid(self.c.describe_location_smb, LocationArn=self.nfs,
                           words=(self.nfs, "NFS"))
        self.assertInvalid(self.c.update_location_smb, LocationArn=self.nfs, User="x")

    def test_smb(self):
        d = self.c.describe_location_smb(LocationArn=self.smb)
        self.assertNoSecret(d)
        self.assertNotIn("Password", d)
        self.assertEqual(d["LocationUri"], f"smb://smb.{TOKEN}.example.com/share/dir/")
        self.assertEqual(d["User"], "alice")
        self.assertEqual(d["Domain"], "CORP")
        self.assertEqual(d["AgentArns"], [CTL.agent_arn])
        self.assertEqual(d["MountOptions"], {"Version": "SMB3"})
        self.assertEqual(d["AuthenticationType"], "NTLM")
        self.assertEqual(d["DnsIpAddresses"], ["10.0.0.53"])
        self.assertCreationTime(d)
        new_password = secret("smb-password-2")
        self.c.update_location_smb(LocationArn=self.smb, User="bob", Password=new_password,
                                   Subdirectory="/share/elsewhere")
        d = self.c.describe_location_smb(LocationArn=self.smb)
        self.assertNoSecret(d)
        self.assertEqual(d["User"], "bob")
        self.assertEqual(d["Domain"], "CORP")  # untouched members stay
        self.assertEqual(d["LocationUri"], f"smb://smb.{TOKEN}.example.com/share/elsewhere/")
        # A password the model refuses (over 104 characters) is not echoed in
        # the validation message.
        too_long = secret("p" * 80)
        self.assertGreater(len(too_long), 104)
        msg = self.assertInvalid(CTL.client(validate=False).create_location_smb,
                                 ServerHostname=f"long.{TOKEN}.example.com", Subdirectory="/s",
                                 Password=too_long, AgentArns=[CTL.agent_arn],
                                 words=("'password'",))
        self.assertNotIn(too_long, msg)

    def test_smb_kerberos(self):
        d = self.c.describe_location_smb(LocationArn=self.smb_kerberos)
        self.assertNoSecret(d)
        self.assertEqual(d["AuthenticationType"], "KERBEROS")
        self.assertEqual(d["KerberosPrincipal"], "HOST/smbk@EXAMPLE.COM")
        for member in ("KerberosKeytab", "KerberosKrb5Conf", "Password"):
            self.assertNotIn(member, d)
        # KERBEROS without its files is refused.
        self.assertInvalid(self.c.create_location_smb, ServerHostname=f"bad.{TOKEN}.example.com",
                           Subdirectory="/s", AgentArns=[CTL.agent_arn],
                           AuthenticationType="KERBEROS", KerberosPrincipal="HOST/x@EXAMPLE.COM",
                           words=("KerberosKeytab",))

    def test_object_storage(self):
        d = self.c.describe_location_object_storage(LocationArn=self.obj)
        self.assertNoSecret(d)
        self.assertNotIn("SecretKey", d)
        self.assertEqual(d["LocationUri"],
                         f"object-storage://minio.{TOKEN}.example.com/bucket/prefix/")
        self.assertEqual(d["AccessKey"], "AKIDEXAMPLE")
        self.assertEqual(d["ServerProtocol"], "HTTPS")  # DataSync's defaults
        self.assertEqual(d["ServerPort"], 443)
        self.assertEqual(d["ServerCertificate"], self.cert)
        self.assertEqual(d["AgentArns"], [CTL.agent_arn])
        self.assertCreationTime(d)
        new_secret = secret("object-secret-key-2")
        self.c.update_location_object_storage(LocationArn=self.obj, AccessKey="AKIDNEW",
                                              SecretKey=new_secret, ServerProtocol="HTTP")
        d = self.c.describe_location_object_storage(LocationArn=self.obj)
        self.assertNoSecret(d)
        self.assertEqual(d["AccessKey"], "AKIDNEW")
        self.assertEqual(d["ServerProtocol"], "HTTP")
        self.assertEqual(d["ServerPort"], 80)
        self.c.update_location_object_storage(LocationArn=self.obj, ServerPort=9000)
        d = self.c.describe_location_object_storage(LocationArn=self.obj)
        self.assertEqual((d["ServerProtocol"], d["ServerPort"]), ("HTTP", 9000))

    def test_azure_blob(self):
        d = self.c.describe_location_azure_blob(LocationArn=self.azure)
        self.assertNoSecret(d)
        self.assertNotIn("SasConfiguration", d)
        self.assertEqual(d["LocationUri"],
                         f"azure-blob://{TOKEN}.blob.core.windows.net/container1/dir/")
        self.assertEqual(d["AuthenticationType"], "SAS")
        self.assertEqual(d["BlobType"], "BLOCK")
        self.assertEqual(d["AccessTier"], "HOT")
        self.assertEqual(d["AgentArns"], [CTL.agent_arn])
        self.assertCreationTime(d)
        new_token = "sp=rl&sig=" + secret("sas-token-2")
        SECRETS.append(new_token)
        self.c.update_location_azure_blob(LocationArn=self.azure, AccessTier="COOL",
                                          SasConfiguration={"Token": new_token},
                                          Subdirectory="/newdir")
        d = self.c.describe_location_azure_blob(LocationArn=self.azure)
        self.assertNoSecret(d)
        self.assertEqual(d["AccessTier"], "COOL")
        self.assertEqual(d["LocationUri"],
                         f"azure-blob://{TOKEN}.blob.core.windows.net/container1/newdir/")
        # SAS without a token is refused.
        self.assertInvalid(self.c.create_location_azure_blob,
                           ContainerUrl=f"https://{TOKEN}.blob.core.windows.net/container2",
                           AuthenticationType="SAS", AgentArns=[CTL.agent_arn],
                           words=("SasConfiguration",))

    def test_hdfs(self):
        d = self.c.describe_location_hdfs(LocationArn=self.hdfs)
        self.assertNoSecret(d)
        for member in ("KerberosKeytab", "KerberosKrb5Conf"):
            self.assertNotIn(member, d)
        self.assertEqual(d["LocationUri"], f"hdfs://namenode.{TOKEN}.example.com:8020/data/")
        self.assertEqual(d["NameNodes"],
                         [{"Hostname": f"namenode.{TOKEN}.example.com", "Port": 8020}])
        self.assertEqual(d["AuthenticationType"], "KERBEROS")
        self.assertEqual(d["KerberosPrincipal"], "hdfs/namenode@EXAMPLE.COM")
        self.assertEqual(d["BlockSize"], 134217728)  # DataSync's defaults
        self.assertEqual(d["ReplicationFactor"], 3)
        self.assertEqual(d["QopConfiguration"],
                         {"RpcProtection": "PRIVACY", "DataTransferProtection": "PRIVACY"})
        self.assertEqual(d["KmsKeyProviderUri"], "kms://http@kms.example.com:9600/kms")
        self.assertEqual(d["AgentArns"], [CTL.agent_arn])
        self.assertCreationTime(d)
        new_keytab = secret("hdfs-keytab-2")
        self.c.update_location_hdfs(LocationArn=self.hdfs, ReplicationFactor=2,
                                    KerberosKeytab=new_keytab.encode(),
                                    NameNodes=[{"Hostname": f"nn9.{TOKEN}.example.com",
                                                "Port": 8021}])
        d = self.c.describe_location_hdfs(LocationArn=self.hdfs)
        self.assertNoSecret(d)
        self.assertEqual(d["ReplicationFactor"], 2)
        self.assertEqual(d["BlockSize"], 134217728)
        self.assertEqual(d["LocationUri"], f"hdfs://nn9.{TOKEN}.example.com:8021/data/")

    def test_hdfs_simple(self):
        d = self.c.describe_location_hdfs(LocationArn=self.hdfs_simple)
        self.assertEqual(d["AuthenticationType"], "SIMPLE")
        self.assertEqual(d["SimpleUser"], "hadoop")
        self.assertEqual(d["BlockSize"], 67108864)
        self.assertEqual(d["ReplicationFactor"], 2)
        self.assertEqual(d["LocationUri"], f"hdfs://nn2.{TOKEN}.example.com:9000/simple/")
        self.c.update_location_hdfs(LocationArn=self.hdfs_simple, SimpleUser="hdfs2")
        self.assertEqual(self.c.describe_location_hdfs(LocationArn=self.hdfs_simple)
                         ["SimpleUser"], "hdfs2")
        # SIMPLE without a user is refused.
        self.assertInvalid(self.c.create_location_hdfs,
                           NameNodes=[{"Hostname": "nn.example.com", "Port": 8020}],
                           AuthenticationType="SIMPLE", AgentArns=[CTL.agent_arn],
                           words=("SimpleUser",))

    def test_local(self):
        status, _, d = CTL.raw("DescribeLocationLocal", {"LocationArn": self.local_arn})
        self.assertEqual(status, 200, d)
        agent_id = CTL.agent_arn.rsplit("/", 1)[1]
        self.assertEqual(d["Path"], self.local_path)
        self.assertEqual(d["LocationUri"], f"local://{agent_id}{self.local_path}/")
        self.assertEqual(d["AgentArns"], [CTL.agent_arn])
        self.assertGreaterEqual(d["CreationTime"], self.t_before)
        moved = self.local_path + "-moved"
        status, _, r = CTL.raw("UpdateLocationLocal", {"LocationArn": self.local_arn,
                                                       "Path": moved})
        self.assertEqual((status, r), (200, {}))
        status, _, d = CTL.raw("DescribeLocationLocal", {"LocationArn": self.local_arn})
        self.assertEqual(d["Path"], moved)
        self.assertEqual(d["LocationUri"], f"local://{agent_id}{moved}/")
        self.assertEqual(self.uri(self.local_arn), d["LocationUri"])
        # Not a LOCAL location.
        status, _, r = CTL.raw("DescribeLocationLocal", {"LocationArn": self.nfs})
        self.assertEqual(status, 400, r)
        self.assertIn("NFS", r["message"])

    # ListLocations filters --------------------------------------------

    def listed(self, *filters):
        out, token = [], None
        while True:
            kw = {"Filters": list(filters)}
            if token:
                kw["NextToken"] = token
            r = self.c.list_locations(**kw)
            self.assertNoSecret(r)
            out += r["Locations"]
            token = r.get("NextToken")
            if not token:
                return {x["LocationArn"]: x["LocationUri"] for x in out}

    @staticmethod
    def f(name, op, *values):
        return {"Name": name, "Operator": op, "Values": list(values)}

    def test_list_filter_location_type(self):
        schemes = {"NFS": "nfs://", "SMB": "smb://", "OBJECT_STORAGE": "object-storage://",
                   "AZURE_BLOB": "azure-blob://", "HDFS": "hdfs://", "LOCAL": "local://"}
        for typ, arns in self.mine.items():
            with self.subTest(type=typ):
                got = self.listed(self.f("LocationType", "Equals", typ))
                self.assertTrue(set(arns) <= set(got), f"{typ}: {got}")
                self.assertFalse((self.all_mine - set(arns)) & set(got), f"{typ}: {got}")
                for uri in got.values():
                    self.assertTrue(uri.startswith(schemes[typ]), f"{typ}: {uri}")
        # Both of two types; everything but one type.
        got = self.listed(self.f("LocationType", "In", "SMB", "HDFS"),
                          self.f("LocationUri", "Contains", TOKEN))
        self.assertEqual(set(got), set(self.mine["SMB"] + self.mine["HDFS"]))
        got = self.listed(self.f("LocationType", "NotEquals", "HDFS"),
                          self.f("LocationUri", "Contains", TOKEN))
        self.assertEqual(set(got), self.all_mine - set(self.mine["HDFS"]))

    def test_list_filter_location_uri(self):
        got = self.listed(self.f("LocationUri", "Contains", TOKEN))
        self.assertEqual(set(got), self.all_mine)
        uri = self.uri(self.obj)
        self.assertEqual(set(self.listed(self.f("LocationUri", "Equals", uri))), {self.obj})
        got = self.listed(self.f("LocationUri", "BeginsWith", "azure-blob://" + TOKEN))
        self.assertEqual(set(got), {self.azure})
        got = self.listed(self.f("LocationUri", "Contains", TOKEN),
                          self.f("LocationUri", "NotContains", "smb"))
        self.assertEqual(set(got), self.all_mine - set(self.mine["SMB"]))
        self.assertEqual(self.listed(self.f("LocationUri", "Contains", TOKEN + "-nothing")), {})

    def test_list_filter_creation_time(self):
        mine = self.f("LocationUri", "Contains", TOKEN)
        got = self.listed(mine, self.f("CreationTime", "GreaterThanOrEqual",
                                       utc_text(self.t_before)))
        self.assertEqual(set(got), self.all_mine)
        got = self.listed(mine, self.f("CreationTime", "LessThan", utc_text(self.t_before)))
        self.assertEqual(got, {})
        got = self.listed(mine, self.f("CreationTime", "LessThanOrEqual",
                                       utc_text(self.t_after)))
        self.assertEqual(set(got), self.all_mine)
        got = self.listed(mine, self.f("CreationTime", "GreaterThan", utc_text(self.t_after)))
        self.assertEqual(got, {})
        # Equals, to the second of a location's CreationTime.
        created = int(epoch(self.c.describe_location_nfs(LocationArn=self.nfs)["CreationTime"]))
        got = self.listed(mine, self.f("CreationTime", "Equals", utc_text(created)))
        self.assertIn(self.nfs, got)
        # A value that is not a time is refused.
        self.assertInvalid(self.c.list_locations,
                           Filters=[self.f("CreationTime", "Equals", "yesterday")])
        self.assertInvalid(self.c.list_locations,
                           Filters=[self.f("LocationId", "Equals", self.nfs)])

    # Deletion (its own locations: the other tests keep theirs) ---------

    def test_delete_locations(self):
        token = "ctldel" + uuid.uuid4().hex[:8]
        own = create_every_type(self, token)
        describe = {"NFS": self.c.describe_location_nfs, "SMB": self.c.describe_location_smb,
                    "OBJECT_STORAGE": self.c.describe_location_object_storage,
                    "AZURE_BLOB": self.c.describe_location_azure_blob,
                    "HDFS": self.c.describe_location_hdfs}
        self.assertEqual(set(self.listed(self.f("LocationUri", "Contains", token))),
                         own.all_mine)
        for typ, arns in own.mine.items():
            for arn in arns:
                with self.subTest(type=typ, arn=arn):
                    self.c.delete_location(LocationArn=arn)
                    if typ == "LOCAL":
                        status, _, r = CTL.raw("DescribeLocationLocal", {"LocationArn": arn})
                        self.assertEqual(status, 400, r)
                        self.assertIn(arn, r["message"])
                    else:
                        self.assertInvalid(describe[typ], LocationArn=arn,
                                           words=(arn, "not found"))
                    self.assertInvalid(self.c.delete_location, LocationArn=arn, words=(arn,))
        self.assertEqual(self.listed(self.f("LocationUri", "Contains", token)), {})
        # Their tags went with them.
        self.assertInvalid(self.c.list_tags_for_resource, ResourceArn=own.nfs)
        # The class's locations are all still there.
        self.assertEqual(set(self.listed(self.f("LocationUri", "Contains", TOKEN))),
                         self.all_mine)


# --------------------------------------------------------------------------
# Tasks


class Tasks(ApiCase):
    def test_update_task(self):
        base = self.scratch()
        s = self.local(os.path.join(base, "s"))
        d = self.local(os.path.join(base, "d"))
        task = CTL.create_task(s, d, Name="before", Options={"PosixPermissions": "NONE"})
        t = self.c.describe_task(TaskArn=task)
        self.assertEqual(t["Name"], "before")
        self.assertEqual(t["Options"]["VerifyMode"], "POINT_IN_TIME_CONSISTENT")
        self.assertNotIn("Schedule", t)

        excludes = [{"FilterType": "SIMPLE_PATTERN", "Value": "*.bak|/scratch"}]
        self.c.update_task(TaskArn=task, Name="after",
                           Options={"VerifyMode": "NONE", "OverwriteMode": "NEVER",
                                    "BytesPerSecond": 1234567},
                           Excludes=excludes,
                           Schedule={"ScheduleExpression": "rate(12 hours)"})
        t = self.c.describe_task(TaskArn=task)
        self.assertEqual(t["Name"], "after")
        self.assertEqual(t["Options"]["VerifyMode"], "NONE")
        self.assertEqual(t["Options"]["OverwriteMode"], "NEVER")
        self.assertEqual(t["Options"]["BytesPerSecond"], 1234567)
        self.assertEqual(t["Options"]["PosixPermissions"], "NONE")  # merged, not replaced
        self.assertEqual(t["Excludes"], excludes)
        self.assertEqual(t["Includes"], [])
        self.assertEqual(t["Schedule"], {"ScheduleExpression": "rate(12 hours)",
                                         "Status": "ENABLED"})
        self.assertIn("StatusUpdateTime", t["ScheduleDetails"])
        self.assertEqual(t["SourceLocationArn"], s)
        self.assertEqual(t["DestinationLocationArn"], d)
        listed = {x["TaskArn"]: x for x in self.c.list_tasks()["Tasks"]}
        self.assertEqual(listed[task]["Name"], "after")

        # Disabled by the user, then removed.
        self.c.update_task(TaskArn=task, Schedule={"ScheduleExpression": "rate(12 hours)",
                                                   "Status": "DISABLED"})
        t = self.c.describe_task(TaskArn=task)
        self.assertEqual(t["Schedule"]["Status"], "DISABLED")
        self.assertEqual(t["ScheduleDetails"]["DisabledBy"], "USER")
        self.c.update_task(TaskArn=task, Schedule={"ScheduleExpression": ""}, Excludes=[])
        t = self.c.describe_task(TaskArn=task)
        self.assertNotIn("Schedule", t)
        self.assertNotIn("ScheduleDetails", t)
        self.assertEqual(t["Excludes"], [])
        self.assertEqual(t["Name"], "after")
        self.assertEqual(t["Options"]["VerifyMode"], "NONE")

        # A bad schedule, or bad options, change nothing.
        self.assertInvalid(self.c.update_task, TaskArn=task, Name="never",
                           Schedule={"ScheduleExpression": "rate(0 minutes)"})
        self.assertInvalid(self.c.update_task, TaskArn=task, Name="never",
                           Options={"TransferMode": "ALL", "PreserveDeletedFiles": "REMOVE"})
        t = self.c.describe_task(TaskArn=task)
        self.assertEqual(t["Name"], "after")
        self.assertNotIn("Schedule", t)
        self.assertEqual(t["Options"]["TransferMode"], "CHANGED")
        # Unknown task.
        unknown = task[:-17] + "0123456789abcdef0"
        self.assertInvalid(self.c.update_task, TaskArn=unknown, Name="x",
                           words=(unknown, "not found"))
        self.c.delete_task(TaskArn=task)
        self.assertInvalid(self.c.describe_task, TaskArn=task, words=(task,))

    def test_list_tasks_filters(self):
        base = self.scratch()
        a, b, c_ = (self.local(os.path.join(base, n)) for n in ("a", "b", "c"))
        other = self.local(os.path.join(base, "other"))
        t_before = int(time.time())
        ab = CTL.create_task(a, b, Name="a-to-b")
        bc = CTL.create_task(b, c_, Name="b-to-c")
        lone = CTL.create_task(other, other, Name="lone")

        def listed(*filters):
            r = self.c.list_tasks(Filters=list(filters))
            return {x["TaskArn"] for x in r["Tasks"]}

        def f(name, op, *values):
            return {"Name": name, "Operator": op, "Values": list(values)}

        self.assertEqual(listed(f("LocationId", "Equals", a)), {ab})
        self.assertEqual(listed(f("LocationId", "Equals", b)), {ab, bc})  # either end
        self.assertEqual(listed(f("LocationId", "Equals", c_)), {bc})
        self.assertEqual(listed(f("LocationId", "In", a, c_)), {ab, bc})
        got = listed(f("LocationId", "NotEquals", a))
        self.assertNotIn(ab, got)
        self.assertTrue({bc, lone} <= got)
        got = listed(f("LocationId", "Equals", b),
                     f("CreationTime", "GreaterThanOrEqual", utc_text(t_before)))
        self.assertEqual(got, {ab, bc})
        self.assertEqual(listed(f("LocationId", "Equals", b),
                                f("CreationTime", "LessThan", utc_text(t_before))), set())
        entry = {x["TaskArn"]: x for x in self.c.list_tasks(
            Filters=[f("LocationId", "Equals", other)])["Tasks"]}[lone]
        self.assertEqual(entry["Name"], "lone")
        self.assertEqual(entry["Status"], "AVAILABLE")
        self.assertInvalid(self.c.list_tasks, Filters=[f("LocationType", "Equals", "LOCAL")])
        self.assertInvalid(self.c.list_tasks, Filters=[f("LocationId", "LessThan", a)])

    def test_task_tags(self):
        base = self.scratch()
        s = self.local(os.path.join(base, "s"))
        d = self.local(os.path.join(base, "d"))
        task = CTL.create_task(s, d, Tags=[{"Key": "team", "Value": "ferry"}])
        self.c.tag_resource(ResourceArn=task, Tags=[{"Key": "env", "Value": "test"},
                                                    {"Key": "team", "Value": "data"}])
        got = self.c.list_tags_for_resource(ResourceArn=task)["Tags"]
        self.assertEqual(sorted(got, key=lambda x: x["Key"]),
                         [{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "data"}])
        self.c.untag_resource(ResourceArn=task, Keys=["team", "not-there"])
        self.assertEqual(self.c.list_tags_for_resource(ResourceArn=task)["Tags"],
                         [{"Key": "env", "Value": "test"}])
        self.c.untag_resource(ResourceArn=task, Keys=["env"])
        self.assertEqual(self.c.list_tags_for_resource(ResourceArn=task)["Tags"], [])
        self.c.delete_task(TaskArn=task)
        self.assertInvalid(self.c.tag_resource, ResourceArn=task,
                           Tags=[{"Key": "k", "Value": "v"}])
        self.assertInvalid(self.c.list_tags_for_resource, ResourceArn=task)


# --------------------------------------------------------------------------
# Executions


class Executions(ApiCase):
    def test_unsupported_location_types_end_in_error(self):
        base = self.scratch()
        local = self.local(os.path.join(base, "l"))
        hdfs = self.c.create_location_hdfs(
            NameNodes=[{"Hostname": "hdfs-unsupported.example.com", "Port": 8020}],
            AuthenticationType="SIMPLE", SimpleUser="u",
            AgentArns=[CTL.agent_arn])["LocationArn"]
        for src, dst, typ, other in ((local, hdfs, "HDFS", hdfs), (hdfs, local, "HDFS", hdfs)):
            with self.subTest(src=src, dst=dst):
                task = CTL.create_task(src, dst)
                arn = self.c.start_task_execution(TaskArn=task)["TaskExecutionArn"]
                d = CTL.wait_execution(arn, timeout=30)
                self.assertNoSecret(d)
                self.assertEqual(d["Status"], "ERROR", d)
                self.assertEqual(d["Result"]["ErrorCode"], "UnsupportedLocationType", d)
                self.assertIn(typ, d["Result"]["ErrorDetail"])
                self.assertIn(other, d["Result"]["ErrorDetail"])
                self.assertIn("EndTime", d)
                listed = self.c.list_task_executions(TaskArn=task)["TaskExecutions"]
                self.assertEqual([(e["TaskExecutionArn"], e["Status"]) for e in listed],
                                 [(arn, "ERROR")])
                # The execution failed, not the task.
                t = self.c.describe_task(TaskArn=task)
                self.assertEqual(t["CurrentTaskExecutionArn"], arn)
                self.assertEqual(t["Status"], "AVAILABLE", t)
                self.assertNotIn("ErrorCode", t)
                self.c.delete_task(TaskArn=task)
        for loc in (hdfs, local):
            self.c.delete_location(LocationArn=loc)

    def test_overrides_and_filters_of_one_execution(self):
        base = self.scratch()
        src, dst = os.path.join(base, "src"), os.path.join(base, "dst")
        files = {"keep/a.txt": b"a" * 1000, "keep/b.log": b"b" * 2000,
                 "keep/sub/c.txt": b"c" * 3000, "keep/sub/d.tmp": b"d" * 10,
                 "skip/e.txt": b"e" * 10, "top.txt": b"t" * 10}
        for rel, data in files.items():
            p = os.path.join(src, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            oracle.write_file(p, data)
        os.makedirs(os.path.join(dst, "keep"))
        oracle.write_file(os.path.join(dst, "keep", "stale.txt"), b"old")
        task_excludes = [{"FilterType": "SIMPLE_PATTERN", "Value": "*.log"}]
        task = CTL.create_task(self.local(src), self.local(dst), Excludes=task_excludes,
                               Options={"VerifyMode": "POINT_IN_TIME_CONSISTENT"})
        includes = [{"FilterType": "SIMPLE_PATTERN", "Value": "/keep"}]
        excludes = [{"FilterType": "SIMPLE_PATTERN", "Value": "*.tmp"}]
        arn = self.c.start_task_execution(
            TaskArn=task, Includes=includes, Excludes=excludes,
            OverrideOptions={"PreserveDeletedFiles": "REMOVE",
                             "VerifyMode": "ONLY_FILES_TRANSFERRED"})["TaskExecutionArn"]
        d = CTL.wait_execution(arn, timeout=60)
        self.assertEqual(d["Status"], "SUCCESS", f"{d}\n{CTL.logs()}")
        self.assertNotIn("ErrorCode", d["Result"])
        # The execution's filters replace the task's: *.log goes, *.tmp not.
        got = sorted(rel.decode() for rel, st in oracle.walk(dst).items()
                     if oracle.kind(st) == "file")
        self.assertEqual(got, ["keep/a.txt", "keep/b.log", "keep/sub/c.txt"])
        for rel in got:
            self.assertEqual(oracle.digest_rel(dst, rel.encode()),
                             oracle.digest_rel(src, rel.encode()), rel)
        self.assertEqual(d["FilesTransferred"], 3)
        self.assertEqual(d["BytesWritten"], 6000)
        self.assertEqual(d["FilesDeleted"], 1)  # keep/stale.txt: REMOVE
        self.assertEqual(d["Options"]["PreserveDeletedFiles"], "REMOVE")
        self.assertEqual(d["Options"]["VerifyMode"], "ONLY_FILES_TRANSFERRED")
        self.assertEqual(d["Includes"], includes)
        self.assertEqual(d["Excludes"], excludes)
        for phase in ("PrepareStatus", "TransferStatus", "VerifyStatus"):
            self.assertEqual(d["Result"][phase], "SUCCESS", phase)
        self.assertLessEqual(d["StartTime"], d["LaunchTime"])
        self.assertLessEqual(d["LaunchTime"], d["EndTime"])
        # The task itself is unchanged.
        t = self.c.describe_task(TaskArn=task)
        self.assertEqual(t["Options"]["PreserveDeletedFiles"], "PRESERVE")
        self.assertEqual(t["Options"]["VerifyMode"], "POINT_IN_TIME_CONSISTENT")
        self.assertEqual(t["Excludes"], task_excludes)
        self.assertEqual(t["Includes"], [])
        self.assertEqual(t["CurrentTaskExecutionArn"], arn)

        # The next execution runs with the task's settings: everything but
        # *.log files (the new one stays at the source).
        oracle.write_file(os.path.join(src, "new.log"), b"n" * 10)
        second = self.c.start_task_execution(TaskArn=task)["TaskExecutionArn"]
        d2 = CTL.wait_execution(second, timeout=60)
        self.assertEqual(d2["Status"], "SUCCESS", f"{d2}\n{CTL.logs()}")
        self.assertEqual(d2["Options"]["PreserveDeletedFiles"], "PRESERVE")
        self.assertEqual(d2["Excludes"], task_excludes)
        self.assertEqual(d2["Includes"], [])
        got = sorted(rel.decode() for rel, st in oracle.walk(dst).items()
                     if oracle.kind(st) == "file")
        self.assertEqual(got, ["keep/a.txt", "keep/b.log", "keep/sub/c.txt",
                               "keep/sub/d.tmp", "skip/e.txt", "top.txt"])
        self.assertEqual(d2["FilesTransferred"], 3)

        # Both listed, for the task and among all executions, and paged.
        listed = self.c.list_task_executions(TaskArn=task)["TaskExecutions"]
        self.assertEqual(sorted((e["TaskExecutionArn"], e["Status"]) for e in listed),
                         sorted([(arn, "SUCCESS"), (second, "SUCCESS")]))
        for e in listed:
            self.assertEqual(e.get("TaskMode", "BASIC"), "BASIC")
        everything = self.c.list_task_executions()["TaskExecutions"]
        self.assertTrue({arn, second} <= {e["TaskExecutionArn"] for e in everything})
        page = self.c.list_task_executions(TaskArn=task, MaxResults=1)
        self.assertEqual(len(page["TaskExecutions"]), 1)
        page2 = self.c.list_task_executions(TaskArn=task, MaxResults=1,
                                            NextToken=page["NextToken"])
        self.assertEqual(len(page2["TaskExecutions"]), 1)
        self.assertNotEqual(page["TaskExecutions"], page2["TaskExecutions"])
        self.assertNotIn("NextToken", page2)
        # A SUCCESS execution described again is the same.
        again = CTL.describe_execution(arn)
        for k in ("Status", "FilesTransferred", "BytesWritten", "FilesDeleted", "EndTime",
                  "Includes", "Excludes", "Options"):
            self.assertEqual(again[k], d[k], k)


# --------------------------------------------------------------------------
# Secrets, and the model


class SecretsNeverLeave(ApiCase):
    """No secret given to a location (raw, or base64 as a blob travels) in
    any response this module received, in the server's log, or unsealed in
    its data directory (the database, its journal). The class makes its own
    locations with secrets (and describes and lists them); whatever else the
    module did before is checked too."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.token = "ctlsec" + uuid.uuid4().hex[:8]
        own = create_every_type(control.ClassCleanups(cls), cls.token)
        c = CTL.client()
        c.describe_location_smb(LocationArn=own.smb)
        c.describe_location_smb(LocationArn=own.smb_kerberos)
        c.describe_location_object_storage(LocationArn=own.obj)
        c.describe_location_azure_blob(LocationArn=own.azure)
        c.describe_location_hdfs(LocationArn=own.hdfs)
        c.list_locations()

    def test_not_in_any_response(self):
        with control._RESPONSES_LOCK:
            responses = list(control.RESPONSES)
        ops = {r["operation"] for r in responses}
        for op in ("DescribeLocationSmb", "DescribeLocationHdfs", "ListLocations"):
            self.assertIn(op, ops)
        for r in responses:
            for s in SECRETS:
                for form in secret_forms(s):
                    self.assertNotIn(form, r["body"], f"{r['operation']} returned a secret")

    def test_not_in_the_logs(self):
        for path in [CTL.server.log] + [a.log for a in CTL.agents]:
            with open(path, "rb") as f:
                log = f.read()
            for s in SECRETS:
                for form in secret_forms(s):
                    self.assertNotIn(form, log, path)

    def test_not_unsealed_in_the_data_directory(self):
        checked = set()
        for root, _, names in os.walk(CTL.server.dir):
            for name in names:
                path = os.path.join(root, name)
                if not os.path.isfile(path):
                    continue
                with open(path, "rb") as f:
                    data = f.read()
                checked.add(name)
                for s in SECRETS:
                    for form in secret_forms(s):
                        self.assertNotIn(form, data, path)
        self.assertIn("state.db", checked)


# --------------------------------------------------------------------------
# Every operation, once every test ran (whatever the order)


EVERY_OPERATION = {
    "UpdateAgent", "ListAgents", "DeleteAgent", "DescribeAgent",
    "CreateLocationNfs", "DescribeLocationNfs", "UpdateLocationNfs",
    "CreateLocationSmb", "DescribeLocationSmb", "UpdateLocationSmb",
    "CreateLocationObjectStorage", "DescribeLocationObjectStorage",
    "UpdateLocationObjectStorage", "CreateLocationAzureBlob",
    "DescribeLocationAzureBlob", "UpdateLocationAzureBlob",
    "CreateLocationHdfs", "DescribeLocationHdfs", "UpdateLocationHdfs",
    "CreateLocationLocal", "DescribeLocationLocal", "UpdateLocationLocal",
    "ListLocations", "DeleteLocation", "CreateTask", "UpdateTask",
    "DescribeTask", "ListTasks", "DeleteTask", "TagResource", "UntagResource",
    "ListTagsForResource", "StartTaskExecution", "DescribeTaskExecution",
    "ListTaskExecutions"}


def tearDownModule():
    """When every test of the module ran (in any order; not for a selection),
    together they drove every operation above to a 200. (Each response was
    checked against botocore's model as it arrived.)"""
    loader = unittest.TestLoader()
    every = {f"{__name__}.{cls.__name__}.{name}"
             for cls in ApiCase.__subclasses__() for name in loader.getTestCaseNames(cls)}
    if not every <= RAN:
        return
    with control._RESPONSES_LOCK:
        seen = {r["operation"] for r in control.RESPONSES if r["status"] == 200}
    missing = EVERY_OPERATION - seen
    if missing:
        raise AssertionError(f"the module's tests never drove {sorted(missing)} to a 200")


if __name__ == "__main__":
    unittest.main()
