#include "ferry/base/status.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <set>
#include <string>

namespace ferry {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status st;
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kOk);
  EXPECT_EQ(st.message(), "");
  EXPECT_EQ(st.sys_errno(), 0);
  EXPECT_FALSE(st.retryable());
  EXPECT_EQ(st.ToString(), "OK");
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(StatusTest, OkCodeDropsMessageAndFlags) {
  Status st(StatusCode::kOk, "ignored", EIO, true);
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(st.message(), "");
  EXPECT_EQ(st.sys_errno(), 0);
  EXPECT_FALSE(st.retryable());
}

TEST(StatusTest, ErrorCarriesCodeMessageErrnoAndRetry) {
  Status st(StatusCode::kUnavailable, "server went away", ECONNRESET, true);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_EQ(st.message(), "server went away");
  EXPECT_EQ(st.sys_errno(), ECONNRESET);
  EXPECT_TRUE(st.retryable());
  EXPECT_EQ(st.ToString(), "Unavailable: server went away");
}

TEST(StatusTest, FactoriesSetTheirCodeAndAreNotRetryable) {
  struct Case {
    Status st;
    StatusCode code;
  };
  const Case cases[] = {
      {Status::Cancelled("m"), StatusCode::kCancelled},
      {Status::InvalidArgument("m"), StatusCode::kInvalidArgument},
      {Status::NotFound("m"), StatusCode::kNotFound},
      {Status::AlreadyExists("m"), StatusCode::kAlreadyExists},
      {Status::FailedPrecondition("m"), StatusCode::kFailedPrecondition},
      {Status::NotSupported("m"), StatusCode::kNotSupported},
      {Status::DataLoss("m"), StatusCode::kDataLoss},
      {Status::IoError("m"), StatusCode::kIoError},
      {Status::Internal("m"), StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    EXPECT_FALSE(c.st.ok());
    EXPECT_EQ(c.st.code(), c.code) << c.st.ToString();
    EXPECT_EQ(c.st.message(), "m");
    EXPECT_FALSE(c.st.retryable());
  }
  EXPECT_TRUE(Status::NotFound("x").IsNotFound());
  EXPECT_FALSE(Status::NotFound("x").IsCancelled());
  EXPECT_TRUE(Status::Cancelled("x").IsCancelled());
  EXPECT_FALSE(Status::Ok().IsNotFound());
}

TEST(StatusTest, EveryCodeHasItsOwnName) {
  std::set<std::string> names;
  for (int c = 0; c <= static_cast<int>(StatusCode::kInternal); ++c) {
    std::string name(StatusCodeName(static_cast<StatusCode>(c)));
    EXPECT_NE(name, "Unknown") << c;
    EXPECT_FALSE(name.empty()) << c;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(StatusCode::kInternal) + 1);
  EXPECT_EQ(StatusCodeName(StatusCode::kOk), "OK");
  EXPECT_EQ(StatusCodeName(StatusCode::kSourceChanged), "SourceChanged");
}

TEST(StatusTest, CopiesAreIndependent) {
  Status a(StatusCode::kIoError, "disk", EIO, true);
  Status b = a;
  EXPECT_EQ(b.ToString(), a.ToString());
  EXPECT_EQ(b.sys_errno(), EIO);
  EXPECT_TRUE(b.retryable());
  a = Status::NotFound("other");
  EXPECT_EQ(b.code(), StatusCode::kIoError);
  EXPECT_EQ(b.message(), "disk");
  b = Status::Ok();
  EXPECT_TRUE(b.ok());
  EXPECT_EQ(a.message(), "other");
}

TEST(StatusTest, SelfAssignmentKeepsTheValue) {
  Status a = Status::DataLoss("bad block");
  Status& alias = a;
  a = alias;
  EXPECT_EQ(a.ToString(), "DataLoss: bad block");
}

TEST(StatusTest, MoveTransfersTheError) {
  Status a = Status::IoError("gone");
  Status b = std::move(a);
  EXPECT_EQ(b.ToString(), "IoError: gone");
}

TEST(StatusTest, WithContextPrefixesAndKeepsEverythingElse) {
  Status st(StatusCode::kResourceExhausted, "no space", ENOSPC, true);
  Status ctx = st.WithContext("write /a");
  EXPECT_EQ(ctx.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ctx.message(), "write /a: no space");
  EXPECT_EQ(ctx.sys_errno(), ENOSPC);
  EXPECT_TRUE(ctx.retryable());
  EXPECT_EQ(st.message(), "no space");  // the original is unchanged
  EXPECT_TRUE(Status::Ok().WithContext("anything").ok());
}

TEST(ResultTest, HoldsAValue) {
  Result<int> r(42);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.status().ok());
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
  *r = 7;
  EXPECT_EQ(r.value(), 7);
}

TEST(ResultTest, HoldsAnError) {
  Result<int> r(Status::NotFound("no such thing"));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "no such thing");
}

TEST(ResultTest, OkStatusBecomesAnInternalError) {
  Result<int> r{Status::Ok()};
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

TEST(ResultTest, MoveOnlyValues) {
  Result<std::unique_ptr<int>> r(std::make_unique<int>(5));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(**r, 5);
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 5);
}

TEST(ResultTest, ArrowReachesTheValue) {
  Result<std::string> r(std::string("abc"));
  EXPECT_EQ(r->size(), 3u);
  const Result<std::string>& cr = r;
  EXPECT_EQ(cr->front(), 'a');
}

Status FailIf(bool fail, int* reached) {
  FERRY_RETURN_IF_ERROR(fail ? Status::IoError("boom") : Status::Ok());
  ++*reached;
  return Status::Ok();
}

TEST(StatusMacrosTest, ReturnIfErrorStopsOnlyOnError) {
  int reached = 0;
  EXPECT_TRUE(FailIf(false, &reached).ok());
  EXPECT_EQ(reached, 1);
  Status st = FailIf(true, &reached);
  EXPECT_EQ(st.ToString(), "IoError: boom");
  EXPECT_EQ(reached, 1);
}

Result<int> Half(int v) {
  if (v % 2 != 0) return Status::InvalidArgument("odd: " + std::to_string(v));
  return v / 2;
}

Result<int> Quarter(int v) {
  FERRY_ASSIGN_OR_RETURN(int h, Half(v));
  FERRY_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusMacrosTest, AssignOrReturnAssignsOrPropagates) {
  Result<int> ok = Quarter(20);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 5);
  Result<int> first = Quarter(7);
  EXPECT_EQ(first.status().message(), "odd: 7");
  Result<int> second = Quarter(6);
  EXPECT_EQ(second.status().message(), "odd: 3");
}

Result<std::unique_ptr<int>> MakeBox(int v) { return std::make_unique<int>(v); }

Status Unbox(int* out) {
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<int> box, MakeBox(9));
  *out = *box;
  return Status::Ok();
}

TEST(StatusMacrosTest, AssignOrReturnMovesMoveOnlyValues) {
  int v = 0;
  EXPECT_TRUE(Unbox(&v).ok());
  EXPECT_EQ(v, 9);
}

}  // namespace
}  // namespace ferry
