// An HttpStream (a GET's body as it arrives) as an ObjectStream: what the S3
// and Azure stores' OpenStream return. Its failures name the object.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "ferry/s3/http.h"
#include "ferry/storage/object/object_store.h"

namespace ferry {

class HttpObjectStream : public ObjectStream {
 public:
  // `body` null: nothing to read (a range from the object's end on).
  // `context`: "GET https://host/bucket/key", for messages.
  HttpObjectStream(std::unique_ptr<HttpStream> body, std::string context)
      : body_(std::move(body)), context_(std::move(context)) {}

  // What OpenStream returns for a client's opened GET: the stream, or the
  // failure to open it.
  static Result<std::unique_ptr<ObjectStream>> Of(
      Result<std::unique_ptr<HttpStream>> body, std::string context) {
    if (!body.ok()) return body.status();
    return std::unique_ptr<ObjectStream>(std::make_unique<HttpObjectStream>(
        std::move(body).value(), std::move(context)));
  }

  Result<size_t> Read(std::span<std::byte> out) override {
    if (body_ == nullptr) return size_t{0};
    Result<size_t> n = body_->Read(out);
    if (!n.ok()) return n.status().WithContext(context_);
    return n;
  }

 private:
  std::unique_ptr<HttpStream> body_;
  const std::string context_;
};

}  // namespace ferry
