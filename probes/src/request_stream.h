#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
// Before any Boost header: Boost 1.74's asio/awaitable.hpp uses std::exchange
// without including it, which GCC 12 in C++20 mode rejects.
#include <utility>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "bgate/probes/handler.h"

namespace bgate::probes::detail {

// Answers to pipelined requests are held back once this much output is
// pending, so a client that pipelines without reading cannot make the
// server buffer without end.
inline constexpr std::size_t kMaxPendingOutput = 64 * 1024;

// The bytes of one connection turned into the bytes of its answers: parses
// HTTP/1.x requests, asks the handler, serializes each answer. Knows nothing
// of sockets or time, so it can be tested and fuzzed on plain strings.
// Malformed requests are answered 400, a header over the limit 431, a body
// 413, a well-formed but unsupported version 505, a throwing handler 500;
// after a rejection the rest of the input cannot be framed and the
// connection closes. Not thread-safe.
class RequestStream {
 public:
  RequestStream(const Handler& handler, std::size_t header_limit);

  // Answers the complete requests at the front of `input`, appending the
  // answers to `out`, and returns how many bytes of `input` it consumed. The
  // caller keeps the rest and presents it again, followed by new bytes, on
  // the next call. Stops early once `out` holds kMaxPendingOutput bytes, and
  // for good once the connection must close; the bytes of a rejected request
  // are not counted as consumed.
  std::size_t Feed(std::string_view input, std::string& out);

  // The connection is to be closed once `out` has been written.
  bool close_after_write() const { return close_after_write_; }
  // A request has begun (its bytes were fed) but is not answered yet.
  bool mid_request() const { return parser_.has_value(); }

 private:
  using Parser =
      boost::beast::http::request_parser<boost::beast::http::empty_body>;
  using Request = Parser::value_type;

  bool AwaitsLastChunk() const;
  Parser& CurrentParser();
  void Answer(const Request& request, std::string& out);

  const Handler& handler_;
  std::uint32_t header_limit_;
  std::optional<Parser> parser_;  // engaged from a request's first byte
  bool close_after_write_ = false;
};

// Everything a connection would be sent in answer to `input` arriving in one
// piece, up to the point where it would close; output beyond
// kMaxPendingOutput is produced as the server would after each write.
std::string AnswerAll(const Handler& handler, std::string_view input,
                      std::size_t header_limit);

}  // namespace bgate::probes::detail
