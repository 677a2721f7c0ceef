#include "request_stream.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string_type.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/system/error_code.hpp>

namespace bgate::probes::detail {
namespace {

namespace http = boost::beast::http;
using boost::system::error_code;

// The shortest chunked body: the last chunk and an empty trailer.
constexpr std::string_view kLastChunk = "0\r\n\r\n";

std::string_view ToStd(boost::beast::string_view view) {
  return {view.data(), view.size()};
}

void AppendHeader(std::string& out, std::string_view name,
                  std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

// Headers and body in one buffer, so that one write sends the whole answer.
void AppendResponse(const Response& response, bool head, bool keep_alive,
                    unsigned version, std::string& out) {
  out.append("HTTP/1.1 ")
      .append(std::to_string(response.status))
      .append(" ")
      .append(ToStd(
          http::obsolete_reason(static_cast<http::status>(response.status))))
      .append("\r\n");
  AppendHeader(out, "Content-Type", response.content_type);
  AppendHeader(out, "Content-Length", std::to_string(response.body.size()));
  for (const auto& [name, value] : response.headers) {
    AppendHeader(out, name, value);
  }
  if (!keep_alive) {
    AppendHeader(out, "Connection", "close");
  } else if (version == 10) {
    AppendHeader(out, "Connection", "keep-alive");
  }
  out += "\r\n";
  if (!head) out += response.body;
}

Response PlainError(int status, std::string body) {
  Response response;
  response.status = status;
  response.body = std::move(body);
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

// Beast reports "HTTP/2.0" and "HTTX/1.1" alike as bad_version; only the
// well-formed one is a version we do not support.
bool NamesAnHttpVersion(std::string_view input) {
  const std::string_view line = input.substr(0, input.find("\r\n"));
  const std::size_t space = line.rfind(' ');
  if (space == std::string_view::npos) return false;
  const std::string_view version = line.substr(space + 1);
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  return version.size() == 8 && version.starts_with("HTTP/") &&
         digit(version[5]) && version[6] == '.' && digit(version[7]);
}

// `input` is what the parser was given, starting with the request line.
Response ParseError(const error_code& ec, std::string_view input) {
  if (ec == http::error::bad_version && NamesAnHttpVersion(input)) {
    return PlainError(505, "http version not supported\n");
  }
  if (ec == http::error::header_limit) {
    return PlainError(431, "request header too large\n");
  }
  if (ec == http::error::body_limit || ec == http::error::unexpected_body) {
    return PlainError(413, "request body not allowed\n");
  }
  return PlainError(400, "bad request\n");
}

}  // namespace

RequestStream::RequestStream(const Handler& handler, std::size_t header_limit)
    : handler_(handler),
      header_limit_(static_cast<std::uint32_t>(std::min<std::size_t>(
          header_limit, std::numeric_limits<std::uint32_t>::max()))) {}

std::size_t RequestStream::Feed(std::string_view input, std::string& out) {
  std::size_t consumed = 0;
  while (consumed < input.size() && !close_after_write_ &&
         out.size() < kMaxPendingOutput) {
    const std::string_view rest = input.substr(consumed);
    if (AwaitsLastChunk() && rest.size() < kLastChunk.size()) break;
    error_code ec;
    const std::size_t used = CurrentParser().put(
        boost::asio::const_buffer(rest.data(), rest.size()), ec);
    if (ec == http::error::need_more) return consumed + used;
    if (ec) {
      // The rest of the input cannot be framed once a request is rejected.
      AppendResponse(ParseError(ec, rest), /*head=*/false,
                     /*keep_alive=*/false, /*version=*/11, out);
      close_after_write_ = true;
      parser_.reset();
      break;
    }
    consumed += used;
    // The header of a request with an (empty) chunked body is parsed
    // before its body.
    if (!parser_->is_done()) {
      if (used == 0) break;
      continue;
    }
    Answer(parser_->get(), out);
    parser_.reset();
  }
  return consumed;
}

// Beast asserts when a last chunk it saw without its end is presented again
// in fewer than five bytes. No body is allowed, so the last chunk is the only
// one a request can carry, and shorter input cannot complete it anyway.
bool RequestStream::AwaitsLastChunk() const {
  return parser_ && parser_->is_header_done() && parser_->chunked();
}

RequestStream::Parser& RequestStream::CurrentParser() {
  if (!parser_) {
    parser_.emplace();
    parser_->header_limit(header_limit_);
    parser_->body_limit(0);
  }
  return *parser_;
}

void RequestStream::Answer(const Request& request, std::string& out) {
  Response response;
  try {
    response = handler_.Handle(ToStd(request.method_string()),
                               ToStd(request.target()));
  } catch (...) {
    response = PlainError(500, "internal error\n");
  }
  const bool keep_alive = request.keep_alive();
  AppendResponse(response, request.method() == http::verb::head, keep_alive,
                 request.version(), out);
  if (!keep_alive) close_after_write_ = true;
}

std::string AnswerAll(const Handler& handler, std::string_view input,
                      std::size_t header_limit) {
  RequestStream stream(handler, header_limit);
  std::string written;
  std::string pending;
  // One round per write the server would make.
  for (;;) {
    input.remove_prefix(stream.Feed(input, pending));
    if (pending.empty()) break;
    written += pending;
    pending.clear();
    if (stream.close_after_write()) break;
  }
  return written;
}

}  // namespace bgate::probes::detail
