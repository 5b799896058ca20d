// The StateStore against SQLite and PostgreSQL: one suite, both backends.
#include "ferry/control/server/state_store.h"

#include <gtest/gtest.h>

#include <thread>

#include "ferry/control/store/test_database.h"

namespace ferry::control {
namespace {

using nlohmann::json;
using testing::Backend;

class StateStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    auto t = testing::TestDatabase::Create(GetParam());
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    test_db_ = std::move(*t);
    ASSERT_TRUE(Migrate(db(), StateStore::Migrations(*sealer_)).ok());
  }

  Database& db() { return *test_db_->db; }

  // Runs `fn` in a transaction and expects it to succeed.
  void Tx(const std::function<Status(SqlSession&)>& fn) {
    Status st = db().Transaction(fn);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  template <typename T>
  T Get(const std::function<Result<T>(SqlSession&)>& fn) {
    std::optional<T> out;
    Tx([&](SqlSession& s) -> Status {
      FERRY_ASSIGN_OR_RETURN(T v, fn(s));
      out = std::move(v);
      return Status::Ok();
    });
    return out ? std::move(*out) : T();
  }

  static AgentRecord Agent(const std::string& id) {
    AgentRecord a;
    a.arn = "arn:aws:datasync:r:000000000000:agent/" + id;
    a.name = "name-" + id;
    a.hostname = "host";
    a.version = "0.1.0";
    a.certificate_pem = "PEM";
    a.created_ms = 1000;
    return a;
  }

  static LocationRecord Location(const std::string& id,
                                 std::vector<std::string> agents) {
    LocationRecord l;
    l.arn = "arn:aws:datasync:r:000000000000:location/" + id;
    l.type = "LOCAL";
    l.uri = "local://agent/" + id + "/";
    l.params = {{"Path", "/" + id}};
    l.sealed_secrets = "v2:sealed";
    l.agent_arns = std::move(agents);
    l.created_ms = 2000;
    return l;
  }

  static TaskRecord Task(const std::string& id, const std::string& src,
                         const std::string& dst) {
    TaskRecord t;
    t.arn = "arn:aws:datasync:r:000000000000:task/" + id;
    t.name = "task " + id;
    t.source_arn = src;
    t.destination_arn = dst;
    t.body = {{"Options", {{"VerifyMode", "NONE"}}}};
    t.created_ms = 3000;
    return t;
  }

  ExecutionRecord Execution(const std::string& task_arn, const std::string& id,
                            const std::string& status) {
    ExecutionRecord e;
    e.arn = task_arn + "/execution/" + id;
    e.task_arn = task_arn;
    e.seq =
        Get<int64_t>([&](SqlSession& s) { return store_.NextExecutionSeq(s); });
    e.status = status;
    e.body = {{"Options", {{"BytesPerSecond", -1}}}};
    e.start_ms = 4000 + e.seq;
    return e;
  }

  // The key 0, 1, ..., 31 (fuzz/corpus/fuzz_sealer's values are sealed
  // under it).
  static std::unique_ptr<Sealer> TestSealer() {
    std::array<unsigned char, 32> key;
    for (size_t i = 0; i < key.size(); ++i) {
      key[i] = static_cast<unsigned char>(i);
    }
    return Sealer::FromKey(key);
  }

  std::unique_ptr<Sealer> sealer_ = TestSealer();
  std::unique_ptr<testing::TestDatabase> test_db_;
  StateStore store_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StateStoreTest,
                         ::testing::Values(Backend::kSqlite,
                                           Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return testing::BackendName(info.param);
                         });

TEST_P(StateStoreTest, MigratingAgainChangesNothing) {
  EXPECT_TRUE(Migrate(db(), StateStore::Migrations(*sealer_)).ok());
  auto rows = db().Query("SELECT MAX(version) FROM schema_version");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  auto v = SqlInt(rows->front(), 0);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(**v, static_cast<int64_t>(StateStore::Migrations(*sealer_).size()));
}

// A database of the ferry that sealed secrets without binding them to their
// rows ("v1:"): starting a server migrates it, once, to values bound to
// their rows, which then open there only.
TEST_P(StateStoreTest, MigrationBindsSealedSecretsToTheirRowsOnce) {
  // Sealed as ferry sealed them before, under TestSealer()'s key:
  // "hunter2" (fuzz/corpus/fuzz_sealer/password) and {"Password":"hunter2"}.
  const std::string kV1Password =
      "v1:ff8amQ55hH0MyLL6MzK5TA38qBPXJ/pT3eB5A4qZuePtldc=";
  const std::string kV1Secrets =
      "v1:AQIDBAUGBwgJCgsMfsgKtJ/nh+k+xkF9MnufRjYmk8y1EEaSGYSnhwlVHnBgxRepZRw=";
  auto old = testing::TestDatabase::Create(GetParam());
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  Database& db = *(*old)->db;
  std::vector<Migration> steps = StateStore::Migrations(*sealer_);
  ASSERT_GE(steps.size(), 3u);
  // The schema that ferry left (migrations 1 and 2), and its values.
  ASSERT_TRUE(Migrate(db, {steps[0], steps[1]}).ok());
  LocationRecord with = Location("loc-with", {});
  with.sealed_secrets = kV1Secrets;
  LocationRecord without = Location("loc-without", {});
  without.sealed_secrets = "";
  ASSERT_TRUE(db.Transaction([&](SqlSession& s) -> Status {
                  FERRY_RETURN_IF_ERROR(
                      store_.PutAccessKey(s, "AKFRTESTKEY", kV1Password, 1));
                  FERRY_RETURN_IF_ERROR(store_.PutLocation(s, with));
                  return store_.PutLocation(s, without);
                }).ok());

  Status migrated = Migrate(db, steps);
  ASSERT_TRUE(migrated.ok()) << migrated.ToString();
  auto read = [&](std::string* key_secret, LocationRecord* a,
                  LocationRecord* b) {
    ASSERT_TRUE(
        db.Transaction([&](SqlSession& s) -> Status {
            FERRY_ASSIGN_OR_RETURN(auto k,
                                   store_.GetAccessKey(s, "AKFRTESTKEY"));
            FERRY_ASSIGN_OR_RETURN(auto la, store_.GetLocation(s, with.arn));
            FERRY_ASSIGN_OR_RETURN(auto lb, store_.GetLocation(s, without.arn));
            if (!k || !la || !lb) return Status::NotFound("a row");
            *key_secret = *k;
            *a = *la;
            *b = *lb;
            return Status::Ok();
          }).ok());
  };
  std::string key_secret;
  LocationRecord a, b;
  read(&key_secret, &a, &b);
  EXPECT_TRUE(key_secret.starts_with("v2:")) << key_secret;
  EXPECT_TRUE(a.sealed_secrets.starts_with("v2:")) << a.sealed_secrets;
  EXPECT_EQ(b.sealed_secrets, "");
  auto opened = sealer_->Open(key_secret,
                              StateStore::AccessKeySecretPlace("AKFRTESTKEY"));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, "hunter2");
  opened = sealer_->Open(a.sealed_secrets,
                         StateStore::LocationSecretsPlace(with.arn));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, R"({"Password":"hunter2"})");
  // Bound: on another row (or as an access key) they do not open.
  EXPECT_EQ(sealer_
                ->Open(a.sealed_secrets,
                       StateStore::LocationSecretsPlace(without.arn))
                .status()
                .code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(
      sealer_
          ->Open(key_secret, StateStore::AccessKeySecretPlace("AKFROTHERKEY"))
          .status()
          .code(),
      StatusCode::kDataLoss);

  // Once: a second start reseals nothing (fresh nonces would change them).
  ASSERT_TRUE(Migrate(db, steps).ok());
  std::string key_again;
  LocationRecord a_again, b_again;
  read(&key_again, &a_again, &b_again);
  EXPECT_EQ(key_again, key_secret);
  EXPECT_EQ(a_again.sealed_secrets, a.sealed_secrets);
}

// A "v1:" value the key does not open (another key, or changed) stops the
// migration, naming its row, rather than leaving a secret no one can use.
TEST_P(StateStoreTest, MigrationStopsAtAValueItCannotOpen) {
  auto old = testing::TestDatabase::Create(GetParam());
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  Database& db = *(*old)->db;
  std::vector<Migration> steps = StateStore::Migrations(*sealer_);
  ASSERT_TRUE(Migrate(db, {steps[0], steps[1]}).ok());
  LocationRecord l = Location("loc-bad", {});
  // fuzz/corpus/fuzz_sealer/password with one character changed.
  l.sealed_secrets = "v1:ff8amQ55hH0MyLL6MzK5TA38qBPXJ/pT3eB5A4qZuePtldd=";
  ASSERT_TRUE(db.Transaction([&](SqlSession& s) {
                  return store_.PutLocation(s, l);
                }).ok());
  Status st = Migrate(db, steps);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_NE(st.ToString().find("locations row " + l.arn), std::string::npos)
      << st.ToString();
  EXPECT_NE(st.ToString().find("migration 3"), std::string::npos)
      << st.ToString();
}

TEST_P(StateStoreTest, ActivationsRoundTripAndExpire) {
  ActivationRecord a;
  a.activation_key = "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE";
  a.poll_token_hash = "hash";
  a.csr_pem = "CSR";
  a.hostname = "nas";
  a.version = "0.1.0";
  a.created_ms = 10;
  a.expires_ms = 100;
  ActivationRecord used = a;
  used.activation_key = "AAAAA-BBBBB-CCCCC-DDDDD-FFFFF";
  Tx([&](SqlSession& s) {
    FERRY_RETURN_IF_ERROR(store_.PutActivation(s, a));
    return store_.PutActivation(s, used);
  });
  used.agent_arn = "arn:agent";
  used.certificate_pem = "CERT";
  Tx([&](SqlSession& s) { return store_.UpdateActivation(s, used); });

  auto got = Get<std::optional<ActivationRecord>>(
      [&](SqlSession& s) { return store_.GetActivation(s, a.activation_key); });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->csr_pem, "CSR");
  EXPECT_EQ(got->hostname, "nas");
  EXPECT_EQ(got->expires_ms, 100);
  EXPECT_EQ(got->agent_arn, "");

  // Expired and unused keys go; a used one stays (the agent polls it).
  Tx([&](SqlSession& s) { return store_.DeleteExpiredActivations(s, 1000); });
  got = Get<std::optional<ActivationRecord>>(
      [&](SqlSession& s) { return store_.GetActivation(s, a.activation_key); });
  EXPECT_FALSE(got.has_value());
  got = Get<std::optional<ActivationRecord>>([&](SqlSession& s) {
    return store_.GetActivation(s, used.activation_key);
  });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->certificate_pem, "CERT");

  ActivationRecord missing = a;
  missing.activation_key = "ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ";
  Status st = db().Transaction(
      [&](SqlSession& s) { return store_.UpdateActivation(s, missing); });
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
}

TEST_P(StateStoreTest, AgentsPageUpdateAndDelete) {
  for (int i = 0; i < 5; ++i) {
    Tx([&](SqlSession& s) {
      return store_.PutAgent(s, Agent("agent-" + std::to_string(i)));
    });
  }
  auto page = Get<Page<AgentRecord>>(
      [&](SqlSession& s) { return store_.ListAgents(s, "", 2); });
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_EQ(page.next_key, page.items[1].arn);
  std::vector<std::string> all;
  std::string after;
  do {
    page = Get<Page<AgentRecord>>(
        [&](SqlSession& s) { return store_.ListAgents(s, after, 2); });
    for (auto& a : page.items) all.push_back(a.arn);
    after = page.next_key;
  } while (!after.empty());
  ASSERT_EQ(all.size(), 5u);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));

  AgentRecord a = Agent("agent-1");
  a.name = "renamed";
  a.last_seen_ms = 99;
  Tx([&](SqlSession& s) { return store_.UpdateAgent(s, a); });
  auto got = Get<std::optional<AgentRecord>>(
      [&](SqlSession& s) { return store_.GetAgent(s, a.arn); });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->name, "renamed");
  EXPECT_EQ(got->last_seen_ms, 99);
  EXPECT_EQ(got->certificate_pem, "PEM");

  // Deleting takes its tags and location bindings with it.
  Tx([&](SqlSession& s) {
    FERRY_RETURN_IF_ERROR(store_.PutTags(s, a.arn, {{"k", "v"}}));
    return store_.PutLocation(s, Location("loc-1", {a.arn}));
  });
  Tx([&](SqlSession& s) { return store_.DeleteAgent(s, a.arn); });
  got = Get<std::optional<AgentRecord>>(
      [&](SqlSession& s) { return store_.GetAgent(s, a.arn); });
  EXPECT_FALSE(got.has_value());
  auto tags = Get<Page<std::pair<std::string, std::string>>>(
      [&](SqlSession& s) { return store_.ListTags(s, a.arn, "", 10); });
  EXPECT_TRUE(tags.items.empty());
  auto locations = Get<std::vector<std::string>>(
      [&](SqlSession& s) { return store_.LocationsOfAgent(s, a.arn); });
  EXPECT_TRUE(locations.empty());
  Status st = db().Transaction(
      [&](SqlSession& s) { return store_.DeleteAgent(s, a.arn); });
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
}

TEST_P(StateStoreTest, LocationsKeepTheirAgentsInOrder) {
  const std::string a1 = Agent("agent-1").arn, a2 = Agent("agent-2").arn;
  LocationRecord l = Location("loc-1", {a2, a1});
  l.params = {{"Path", "/data"}, {"Nested", {{"x", 1}}}};
  Tx([&](SqlSession& s) { return store_.PutLocation(s, l); });
  auto got = Get<std::optional<LocationRecord>>(
      [&](SqlSession& s) { return store_.GetLocation(s, l.arn); });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->agent_arns, (std::vector<std::string>{a2, a1}));
  EXPECT_EQ(got->params, l.params);
  EXPECT_EQ(got->sealed_secrets, "v2:sealed");
  EXPECT_EQ(got->type, "LOCAL");
  EXPECT_EQ(got->created_ms, 2000);

  l.agent_arns = {a1};
  l.uri = "local://other/";
  Tx([&](SqlSession& s) { return store_.UpdateLocation(s, l); });
  got = Get<std::optional<LocationRecord>>(
      [&](SqlSession& s) { return store_.GetLocation(s, l.arn); });
  EXPECT_EQ(got->agent_arns, (std::vector<std::string>{a1}));
  EXPECT_EQ(got->uri, "local://other/");
  auto of_a2 = Get<std::vector<std::string>>(
      [&](SqlSession& s) { return store_.LocationsOfAgent(s, a2); });
  EXPECT_TRUE(of_a2.empty());
  auto of_a1 = Get<std::vector<std::string>>(
      [&](SqlSession& s) { return store_.LocationsOfAgent(s, a1); });
  EXPECT_EQ(of_a1, std::vector<std::string>{l.arn});

  LocationRecord other = Location("loc-2", {a1});
  Tx([&](SqlSession& s) { return store_.PutLocation(s, other); });
  auto page = Get<Page<LocationRecord>>(
      [&](SqlSession& s) { return store_.ListLocations(s, "", 1); });
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].arn, l.arn);
  page = Get<Page<LocationRecord>>(
      [&](SqlSession& s) { return store_.ListLocations(s, page.next_key, 1); });
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].arn, other.arn);
  EXPECT_EQ(page.next_key, "");

  TaskRecord t = Task("task-1", l.arn, other.arn);
  Tx([&](SqlSession& s) { return store_.PutTask(s, t); });
  auto users = Get<std::vector<std::string>>(
      [&](SqlSession& s) { return store_.TasksUsingLocation(s, other.arn); });
  EXPECT_EQ(users, std::vector<std::string>{t.arn});

  Tx([&](SqlSession& s) { return store_.DeleteLocation(s, l.arn); });
  got = Get<std::optional<LocationRecord>>(
      [&](SqlSession& s) { return store_.GetLocation(s, l.arn); });
  EXPECT_FALSE(got.has_value());
  of_a1 = Get<std::vector<std::string>>(
      [&](SqlSession& s) { return store_.LocationsOfAgent(s, a1); });
  EXPECT_EQ(of_a1, std::vector<std::string>{other.arn});
}

TEST_P(StateStoreTest, TasksRoundTripWithTheirSchedule) {
  TaskRecord t = Task("task-1", "src", "dst");
  t.schedule_status = "ENABLED";
  t.schedule_anchor_ms = 50;
  t.schedule_updated_ms = 60;
  t.next_run_ms = 5000;
  Tx([&](SqlSession& s) { return store_.PutTask(s, t); });
  auto got = Get<std::optional<TaskRecord>>(
      [&](SqlSession& s) { return store_.GetTask(s, t.arn); });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->body, t.body);
  EXPECT_EQ(got->schedule_status, "ENABLED");
  EXPECT_EQ(got->schedule_anchor_ms, 50);
  EXPECT_EQ(got->schedule_updated_ms, 60);
  EXPECT_EQ(got->next_run_ms, 5000);

  auto due = Get<std::vector<TaskRecord>>(
      [&](SqlSession& s) { return store_.DueTasks(s, 4999); });
  EXPECT_TRUE(due.empty());
  due = Get<std::vector<TaskRecord>>(
      [&](SqlSession& s) { return store_.DueTasks(s, 5000); });
  ASSERT_EQ(due.size(), 1u);

  t.schedule_status = "DISABLED";
  t.schedule_disabled_by = "SERVICE";
  t.schedule_disabled_reason = "3 failures";
  t.scheduled_failures = 3;
  Tx([&](SqlSession& s) { return store_.UpdateTask(s, t); });
  got = Get<std::optional<TaskRecord>>(
      [&](SqlSession& s) { return store_.GetTask(s, t.arn); });
  EXPECT_EQ(got->schedule_disabled_by, "SERVICE");
  EXPECT_EQ(got->scheduled_failures, 3);
  due = Get<std::vector<TaskRecord>>(
      [&](SqlSession& s) { return store_.DueTasks(s, 9999); });
  EXPECT_TRUE(due.empty());
}

TEST_P(StateStoreTest, DeletingATaskTakesItsExecutionsAndTags) {
  TaskRecord t = Task("task-1", "src", "dst");
  Tx([&](SqlSession& s) { return store_.PutTask(s, t); });
  ExecutionRecord e = Execution(t.arn, "exec-1", "SUCCESS");
  Tx([&](SqlSession& s) {
    FERRY_RETURN_IF_ERROR(store_.PutExecution(s, e));
    FERRY_RETURN_IF_ERROR(store_.PutTags(s, e.arn, {{"run", "1"}}));
    return store_.PutTags(s, t.arn, {{"team", "a"}});
  });
  Tx([&](SqlSession& s) { return store_.DeleteTask(s, t.arn); });
  auto got = Get<std::optional<ExecutionRecord>>(
      [&](SqlSession& s) { return store_.GetExecution(s, e.arn); });
  EXPECT_FALSE(got.has_value());
  for (const std::string& arn : {t.arn, e.arn}) {
    auto tags = Get<Page<std::pair<std::string, std::string>>>(
        [&](SqlSession& s) { return store_.ListTags(s, arn, "", 10); });
    EXPECT_TRUE(tags.items.empty()) << arn;
  }
}

TEST_P(StateStoreTest, ExecutionsListInStartOrderAndByStatus) {
  const std::string t1 = Task("task-1", "s", "d").arn;
  const std::string t2 = Task("task-2", "s", "d").arn;
  std::vector<ExecutionRecord> es = {Execution(t1, "exec-a", "SUCCESS"),
                                     Execution(t2, "exec-b", "QUEUED"),
                                     Execution(t1, "exec-c", "TRANSFERRING"),
                                     Execution(t1, "exec-d", "QUEUED")};
  es[2].agent_arn = "agent-x";
  es[2].describe = {{"FilesTransferred", 5}};
  for (const auto& e : es) {
    Tx([&](SqlSession& s) { return store_.PutExecution(s, e); });
  }
  EXPECT_LT(es[0].seq, es[1].seq);

  auto page = Get<Page<ExecutionRecord>>(
      [&](SqlSession& s) { return store_.ListExecutions(s, t1, "", 2); });
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_EQ(page.items[0].arn, es[0].arn);
  EXPECT_EQ(page.items[1].arn, es[2].arn);
  page = Get<Page<ExecutionRecord>>([&](SqlSession& s) {
    return store_.ListExecutions(s, t1, page.next_key, 2);
  });
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].arn, es[3].arn);
  EXPECT_EQ(page.next_key, "");
  auto all = Get<Page<ExecutionRecord>>(
      [&](SqlSession& s) { return store_.ListExecutions(s, "", "", 100); });
  EXPECT_EQ(all.items.size(), 4u);
  Status bad = db().Transaction([&](SqlSession& s) {
    return store_.ListExecutions(s, "", "not a number", 10).status();
  });
  EXPECT_FALSE(bad.ok());

  auto queued = Get<std::vector<ExecutionRecord>>([&](SqlSession& s) {
    return store_.ExecutionsInStatus(s, {"QUEUED"},
                                     /*lock=*/GetParam() == Backend::kPostgres);
  });
  ASSERT_EQ(queued.size(), 2u);
  EXPECT_EQ(queued[0].arn, es[1].arn);
  EXPECT_EQ(queued[1].arn, es[3].arn);

  auto of_agent = Get<std::vector<ExecutionRecord>>(
      [&](SqlSession& s) { return store_.ExecutionsOfAgent(s, "agent-x"); });
  ASSERT_EQ(of_agent.size(), 1u);
  EXPECT_EQ(of_agent[0].describe["FilesTransferred"], 5);

  auto active = Get<std::vector<ExecutionRecord>>(
      [&](SqlSession& s) { return store_.ActiveExecutionsOfTask(s, t1); });
  ASSERT_EQ(active.size(), 2u);
  EXPECT_EQ(active[0].arn, es[2].arn);
  EXPECT_EQ(active[1].arn, es[3].arn);

  ExecutionRecord e = es[2];
  e.status = "SUCCESS";
  e.cancel_requested = true;
  e.bytes_per_second = 1000;
  e.end_ms = 9000;
  e.scheduled = true;
  Tx([&](SqlSession& s) { return store_.UpdateExecution(s, e); });
  auto got = Get<std::optional<ExecutionRecord>>(
      [&](SqlSession& s) { return store_.GetExecution(s, e.arn); });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, "SUCCESS");
  EXPECT_TRUE(got->cancel_requested);
  EXPECT_TRUE(got->scheduled);
  EXPECT_EQ(got->bytes_per_second, 1000);
  EXPECT_EQ(got->end_ms, 9000);
  EXPECT_EQ(got->body, e.body);
}

TEST_P(StateStoreTest, SequenceNumbersAreUniqueUnderConcurrency) {
  std::vector<int64_t> seen[4];
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        int64_t seq = 0;
        Status st = db().Transaction([&](SqlSession& s) -> Status {
          FERRY_ASSIGN_OR_RETURN(seq, store_.NextExecutionSeq(s));
          return Status::Ok();
        });
        if (st.ok()) seen[t].push_back(seq);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<int64_t> all;
  for (auto& v : seen) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all.size(), 40u);
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
}

TEST_P(StateStoreTest, TagsReplaceRemoveAndPage) {
  const std::string arn = "arn:aws:datasync:r:000000000000:task/task-1";
  Tx([&](SqlSession& s) {
    return store_.PutTags(s, arn, {{"a", "1"}, {"b", "2"}, {"c", ""}});
  });
  Tx([&](SqlSession& s) { return store_.PutTags(s, arn, {{"a", "new"}}); });
  auto page = Get<Page<std::pair<std::string, std::string>>>(
      [&](SqlSession& s) { return store_.ListTags(s, arn, "", 2); });
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_EQ(page.items[0], (std::pair<std::string, std::string>{"a", "new"}));
  EXPECT_EQ(page.next_key, "b");
  page = Get<Page<std::pair<std::string, std::string>>>(
      [&](SqlSession& s) { return store_.ListTags(s, arn, "b", 2); });
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].first, "c");
  Tx([&](SqlSession& s) { return store_.RemoveTags(s, arn, {"a", "zz"}); });
  page = Get<Page<std::pair<std::string, std::string>>>(
      [&](SqlSession& s) { return store_.ListTags(s, arn, "", 10); });
  EXPECT_EQ(page.items.size(), 2u);
  Tx([&](SqlSession& s) { return store_.DeleteAllTags(s, arn); });
  page = Get<Page<std::pair<std::string, std::string>>>(
      [&](SqlSession& s) { return store_.ListTags(s, arn, "", 10); });
  EXPECT_TRUE(page.items.empty());
}

TEST_P(StateStoreTest, AccessKeysAreFoundById) {
  Tx([&](SqlSession& s) {
    return store_.PutAccessKey(s, "AKFRAAAA", "v2:sealed", 1);
  });
  auto got = Get<std::optional<std::string>>(
      [&](SqlSession& s) { return store_.GetAccessKey(s, "AKFRAAAA"); });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, "v2:sealed");
  got = Get<std::optional<std::string>>(
      [&](SqlSession& s) { return store_.GetAccessKey(s, "AKFRBBBB"); });
  EXPECT_FALSE(got.has_value());
}

TEST_P(StateStoreTest, UpdatingWhatIsNotThereIsNotFound) {
  Status st = db().Transaction(
      [&](SqlSession& s) { return store_.UpdateAgent(s, Agent("agent-9")); });
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
  st = db().Transaction([&](SqlSession& s) {
    return store_.UpdateLocation(s, Location("loc-9", {}));
  });
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
  st = db().Transaction([&](SqlSession& s) {
    return store_.UpdateTask(s, Task("task-9", "s", "d"));
  });
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
  ExecutionRecord e;
  e.arn = "nope";
  st = db().Transaction(
      [&](SqlSession& s) { return store_.UpdateExecution(s, e); });
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
}

}  // namespace
}  // namespace ferry::control
