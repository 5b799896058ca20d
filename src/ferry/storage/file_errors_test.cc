#include "ferry/storage/file_errors.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace ferry {
namespace {

TEST(MeaningOfErrnoTest, NetworkFaultsAreRetriedAndTheFilesOwnAreNot) {
  // What a lost or remade connection gives a file server's client library
  // (libsmbclient answers a handle of a connection made again ENETRESET).
  for (int err : {ECONNRESET, ECONNREFUSED, ECONNABORTED, EPIPE, ETIMEDOUT,
                  ENETRESET, ENETDOWN, ENETUNREACH, EHOSTDOWN, EHOSTUNREACH,
                  ENOTCONN, ESTALE, EAGAIN}) {
    SCOPED_TRACE(err);
    const ErrnoMeaning m = MeaningOfErrno(err);
    EXPECT_EQ(m.code, StatusCode::kUnavailable);
    EXPECT_TRUE(m.retryable);
  }
  EXPECT_EQ(MeaningOfErrno(ENOENT).code, StatusCode::kNotFound);
  EXPECT_EQ(MeaningOfErrno(EACCES).code, StatusCode::kPermissionDenied);
  EXPECT_EQ(MeaningOfErrno(ENOSPC).code, StatusCode::kResourceExhausted);
  for (int err : {ENOENT, EACCES, ENOSPC, EEXIST, EIO, EINVAL}) {
    SCOPED_TRACE(err);
    EXPECT_FALSE(MeaningOfErrno(err).retryable);
  }
}

}  // namespace
}  // namespace ferry
