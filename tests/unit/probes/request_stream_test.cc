#include "request_stream.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bgate/drivers/driver.h"
#include "bgate/probes/handler.h"
#include "bgate/sidecar/snapshot.h"

namespace bgate::probes::detail {
namespace {

constexpr std::size_t kHeaderLimit = 16 * 1024;
constexpr std::string_view kReadyzBody =
    "[+]nfs ok\n[-]s3 failed: timeout\nreadyz check failed\n";

struct Answer {
  int status = 0;
  std::map<std::string, std::string> headers;  // names as sent
  std::string body;

  std::string Header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Cuts serialized answers apart, trusting their Content-Length except for
// the answers (by position) to HEAD requests, which carry no body.
std::vector<Answer> Split(std::string_view out,
                          const std::set<std::size_t>& heads = {}) {
  std::vector<Answer> answers;
  while (!out.empty()) {
    const std::size_t end = out.find("\r\n\r\n");
    if (end == std::string_view::npos || !out.starts_with("HTTP/1.1 ")) {
      ADD_FAILURE() << "not an answer: " << out;
      break;
    }
    Answer answer;
    std::string_view head = out.substr(0, end + 2);
    std::size_t eol = head.find("\r\n");
    answer.status = std::stoi(std::string(head.substr(9, 3)));
    head.remove_prefix(eol + 2);
    while (!head.empty()) {
      eol = head.find("\r\n");
      const std::string_view line = head.substr(0, eol);
      const std::size_t colon = line.find(": ");
      answer.headers.emplace(line.substr(0, colon), line.substr(colon + 2));
      head.remove_prefix(eol + 2);
    }
    out.remove_prefix(end + 4);
    const std::size_t length =
        heads.contains(answers.size())
            ? 0
            : std::stoul(answer.Header("Content-Length"));
    if (out.size() < length) {
      ADD_FAILURE() << "body cut short: " << out;
      break;
    }
    answer.body = out.substr(0, length);
    out.remove_prefix(length);
    answers.push_back(std::move(answer));
  }
  return answers;
}

std::shared_ptr<const sidecar::Snapshot> TwoBackends() {
  auto snapshot = std::make_shared<sidecar::Snapshot>();
  snapshot->backends.resize(2);
  snapshot->backends[0].name = "nfs";
  snapshot->backends[0].driver = "posix";
  snapshot->backends[0].state = sidecar::BackendState::kReady;
  snapshot->backends[1].name = "s3";
  snapshot->backends[1].driver = "s3";
  snapshot->backends[1].state = sidecar::BackendState::kFailed;
  snapshot->backends[1].reason = drivers::Reason::kTimeout;
  return snapshot;
}

// Delivers input the way the server does: bytes the stream did not consume
// stay buffered and are presented again, followed by the next piece.
class Feeder {
 public:
  explicit Feeder(RequestStream& stream) : stream_(stream) {}

  void Push(std::string_view piece) {
    buffered_ += piece;
    buffered_.erase(0, stream_.Feed(buffered_, out_));
  }

  const std::string& buffered() const { return buffered_; }
  const std::string& out() const { return out_; }

 private:
  RequestStream& stream_;
  std::string buffered_;
  std::string out_;
};

class RequestStreamTest : public ::testing::Test {
 protected:
  std::string AnswerAll(std::string_view input,
                        std::size_t header_limit = kHeaderLimit) const {
    return detail::AnswerAll(handler_, input, header_limit);
  }

  sidecar::SnapshotHolder holder_{TwoBackends()};
  bool metrics_throw_ = false;
  std::string metrics_ = "backup_gate_up 1\n";
  Handler handler_{HandlerSources{&holder_, [] { return true; },
                                  [this] {
                                    if (metrics_throw_) {
                                      throw std::runtime_error("broken");
                                    }
                                    return metrics_;
                                  }}};
};

// --- requests and answers ----------------------------------------------------

TEST_F(RequestStreamTest, AnswersOneRequest) {
  RequestStream stream(handler_, kHeaderLimit);
  std::string out;
  const std::string request = "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(stream.Feed(request, out), request.size());
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 3\r\n"
            "Cache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "\r\n"
            "ok\n");
  EXPECT_FALSE(stream.close_after_write());
  EXPECT_FALSE(stream.mid_request());
}

TEST_F(RequestStreamTest, PartialRequestIsLeftToTheCaller) {
  RequestStream stream(handler_, kHeaderLimit);
  std::string out;
  EXPECT_EQ(stream.Feed("", out), 0u);
  EXPECT_FALSE(stream.mid_request());
  const std::string request = "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string_view start = std::string_view(request).substr(0, 24);
  const std::size_t used = stream.Feed(start, out);
  EXPECT_LE(used, start.size());
  EXPECT_TRUE(stream.mid_request());
  EXPECT_EQ(out, "");
  const std::string_view rest = std::string_view(request).substr(used);
  EXPECT_EQ(stream.Feed(rest, out), rest.size());
  EXPECT_FALSE(stream.mid_request());
  EXPECT_EQ(Split(out).size(), 1u);
}

TEST_F(RequestStreamTest, Http11KeepsTheConnectionUnlessToldToClose) {
  RequestStream stream(handler_, kHeaderLimit);
  std::string out;
  stream.Feed("GET /livez HTTP/1.1\r\n\r\n", out);
  EXPECT_FALSE(stream.close_after_write());
  stream.Feed("GET /livez HTTP/1.1\r\nConnection: close\r\n\r\n", out);
  EXPECT_TRUE(stream.close_after_write());
  const auto answers = Split(out);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].Header("Connection"), "");
  EXPECT_EQ(answers[1].Header("Connection"), "close");
}

TEST_F(RequestStreamTest, Http10ClosesUnlessAskedToKeepAlive) {
  RequestStream kept(handler_, kHeaderLimit);
  std::string out;
  kept.Feed("GET /livez HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", out);
  EXPECT_FALSE(kept.close_after_write());
  const auto answers = Split(out);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].Header("Connection"), "keep-alive");
  EXPECT_EQ(answers[0].status, 200);

  RequestStream plain(handler_, kHeaderLimit);
  out.clear();
  plain.Feed("GET /livez HTTP/1.0\r\n\r\n", out);
  EXPECT_TRUE(plain.close_after_write());
  ASSERT_EQ(Split(out).size(), 1u);
  EXPECT_EQ(Split(out)[0].Header("Connection"), "close");
}

TEST_F(RequestStreamTest, NothingIsConsumedAfterAClosingAnswer) {
  const std::string first = "GET /livez HTTP/1.0\r\n\r\n";
  const std::string second = "GET /readyz/nfs HTTP/1.1\r\n\r\n";
  RequestStream stream(handler_, kHeaderLimit);
  std::string out;
  EXPECT_EQ(stream.Feed(first + second, out), first.size());
  EXPECT_EQ(stream.Feed(second, out), 0u);
  EXPECT_EQ(Split(out).size(), 1u);
  EXPECT_EQ(Split(AnswerAll(first + second)).size(), 1u);
}

TEST_F(RequestStreamTest, PipelinedRequestsAreAnsweredInOrder) {
  const std::string input =
      "GET /livez?verbose HTTP/1.1\r\n\r\n"
      "GET /readyz/nope HTTP/1.1\r\n\r\n"
      "HEAD /metrics HTTP/1.1\r\n\r\n"
      "GET /readyz/s3 HTTP/1.1\r\n\r\n";
  RequestStream stream(handler_, kHeaderLimit);
  std::string out;
  EXPECT_EQ(stream.Feed(input, out), input.size());
  const auto answers = Split(out, /*heads=*/{2});
  ASSERT_EQ(answers.size(), 4u);
  EXPECT_EQ(answers[0].status, 200);
  EXPECT_EQ(answers[0].body, "[+]supervisor ok\nlivez check passed\n");
  EXPECT_EQ(answers[1].status, 404);
  EXPECT_EQ(answers[2].status, 200);
  EXPECT_EQ(answers[2].Header("Content-Length"),
            std::to_string(metrics_.size()));
  EXPECT_EQ(answers[3].status, 503);
  EXPECT_EQ(answers[3].body, "[-]s3 failed: timeout\n");
}

TEST_F(RequestStreamTest, InputCutAnywhereGivesTheSameAnswers) {
  // Requests with an (empty) body are consumed in two steps, header first.
  const std::string input =
      "GET /livez?verbose HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /readyz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
      "HEAD /readyz/s3 HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
      "GET /readyz/nfs HTTP/1.0\r\n\r\n";
  const std::string whole = AnswerAll(input);
  ASSERT_EQ(Split(whole, /*heads=*/{2}).size(), 4u);

  RequestStream bytewise(handler_, kHeaderLimit);
  Feeder byte_by_byte(bytewise);
  byte_by_byte.Push(input.substr(0, 1));
  EXPECT_TRUE(bytewise.mid_request());
  for (std::size_t i = 1; i < input.size(); ++i) {
    byte_by_byte.Push(input.substr(i, 1));
  }
  EXPECT_EQ(byte_by_byte.out(), whole);
  EXPECT_EQ(byte_by_byte.buffered(), "");

  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    RequestStream stream(handler_, kHeaderLimit);
    Feeder feeder(stream);
    feeder.Push(std::string_view(input).substr(0, cut));
    feeder.Push(std::string_view(input).substr(cut));
    EXPECT_EQ(feeder.out(), whole) << "cut at " << cut;
    EXPECT_EQ(feeder.buffered(), "") << "cut at " << cut;
    EXPECT_TRUE(stream.close_after_write()) << "cut at " << cut;
  }
}

TEST_F(RequestStreamTest, HeadHasTheHeadersOfGetWithoutTheBody) {
  const std::string get = AnswerAll("GET /readyz HTTP/1.1\r\n\r\n");
  const std::string head = AnswerAll("HEAD /readyz HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(get.ends_with(kReadyzBody));
  EXPECT_EQ(head, get.substr(0, get.size() - kReadyzBody.size()));
  EXPECT_NE(
      head.find("Content-Length: " + std::to_string(kReadyzBody.size())),
      std::string::npos);
}

TEST_F(RequestStreamTest, HandlerExceptionIsAnInternalError) {
  metrics_throw_ = true;
  RequestStream stream(handler_, kHeaderLimit);
  std::string out;
  stream.Feed(
      "GET /metrics HTTP/1.1\r\n\r\n"
      "GET /livez HTTP/1.1\r\n\r\n",
      out);
  EXPECT_FALSE(stream.close_after_write());
  const auto answers = Split(out);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].status, 500);
  EXPECT_EQ(answers[0].body, "internal error\n");
  EXPECT_EQ(answers[1].status, 200);
}

// The parser asserts when the last chunk, once seen without its end, is
// presented again in fewer than five bytes.
TEST_F(RequestStreamTest, ShortLastChunkPresentedTwiceDoesNotAbort) {
  const std::string get = "GET /livez HTTP/1.1\r\n\r\n";
  const std::string chunked =
      "GET /readyz/nfs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  // Presented unchanged again after the answer before it is written.
  EXPECT_EQ(Split(AnswerAll(get + chunked + "0\r\n")).size(), 1u);

  // Completed a byte at a time.
  RequestStream stream(handler_, kHeaderLimit);
  Feeder feeder(stream);
  feeder.Push(chunked);
  feeder.Push("0\r\n");
  feeder.Push("\r");
  feeder.Push("\n");
  const auto answers = Split(feeder.out());
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status, 200);
  EXPECT_FALSE(stream.mid_request());
  EXPECT_EQ(feeder.buffered(), "");
}

TEST_F(RequestStreamTest, MalformedShortChunkIsStill400) {
  const auto answers = Split(AnswerAll(
      "GET /livez HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nx\r\n\r\n"));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status, 400);
}

// --- the pending-output cap --------------------------------------------------

TEST_F(RequestStreamTest, OutputCapStopsConsumption) {
  metrics_ = std::string(2000, 'm') + "\n";
  constexpr std::size_t kRequests = 100;
  const std::string request = "GET /metrics HTTP/1.1\r\n\r\n";
  std::string input;
  for (std::size_t i = 0; i < kRequests; ++i) input += request;

  RequestStream stream(handler_, kHeaderLimit);
  std::string out;
  const std::size_t consumed = stream.Feed(input, out);
  const std::size_t answered = Split(out).size();
  ASSERT_GT(answered, 0u);
  ASSERT_LT(answered, kRequests);
  EXPECT_EQ(consumed, answered * request.size());
  const std::size_t answer_size = out.size() / answered;
  EXPECT_GE(out.size(), kMaxPendingOutput);
  EXPECT_LT(out.size() - answer_size, kMaxPendingOutput);
  EXPECT_EQ(stream.Feed(std::string_view(input).substr(consumed), out), 0u);

  EXPECT_EQ(Split(AnswerAll(input)).size(), kRequests);
}

// --- rejected input ----------------------------------------------------------

TEST_F(RequestStreamTest, GarbageIs400AndClose) {
  for (std::string_view garbage :
       {std::string_view("\x01\x02\x03 garbage\r\n\r\n"),
        std::string_view("GET\r\n\r\n"),
        std::string_view("GET /livez HTTP/1.1\r\nNo colon here\r\n\r\n"),
        std::string_view("GET /livez HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
        std::string_view("GET /livez HTTX/1.1\r\n\r\n")}) {
    RequestStream stream(handler_, kHeaderLimit);
    std::string out;
    stream.Feed(std::string(garbage) + "GET /livez HTTP/1.1\r\n\r\n", out);
    EXPECT_TRUE(stream.close_after_write()) << garbage;
    EXPECT_FALSE(stream.mid_request()) << garbage;
    const auto answers = Split(out);
    ASSERT_EQ(answers.size(), 1u) << garbage;
    EXPECT_EQ(answers[0].status, 400) << garbage;
    EXPECT_EQ(answers[0].body, "bad request\n") << garbage;
    EXPECT_EQ(answers[0].Header("Connection"), "close") << garbage;
  }
}

TEST_F(RequestStreamTest, AnswersBeforeAMalformedRequestAreKept) {
  const std::string first = "GET /livez HTTP/1.1\r\n\r\n";
  RequestStream stream(handler_, kHeaderLimit);
  std::string out;
  EXPECT_EQ(stream.Feed(first + "BROKEN\r\n\r\n" + first, out), first.size());
  const auto answers = Split(out);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].status, 200);
  EXPECT_EQ(answers[1].status, 400);
}

TEST_F(RequestStreamTest, OversizedHeaderIs431AndClose) {
  constexpr std::size_t kLimit = 4096;
  const auto request = [](std::size_t pad) {
    return "GET /livez HTTP/1.1\r\nX-Pad: " + std::string(pad, 'a') + "\r\n";
  };
  const auto fits = Split(AnswerAll(request(3500) + "\r\n", kLimit));
  ASSERT_EQ(fits.size(), 1u);
  EXPECT_EQ(fits[0].status, 200);
  // Whole, and still arriving: either way it cannot fit.
  for (const std::string& input : {request(5000) + "\r\n", request(5000)}) {
    RequestStream stream(handler_, kLimit);
    std::string out;
    stream.Feed(input, out);
    EXPECT_TRUE(stream.close_after_write());
    const auto answers = Split(out);
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0].status, 431);
    EXPECT_EQ(answers[0].Header("Connection"), "close");
  }
}

TEST_F(RequestStreamTest, HeaderLimitBeyondTheParsersRangeIsClamped) {
  const std::size_t huge = std::size_t{1} << 32;
  const auto answers = Split(AnswerAll("GET /livez HTTP/1.1\r\n\r\n", huge));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status, 200);
}

TEST_F(RequestStreamTest, RequestBodyIs413AndClose) {
  for (std::string_view request : {
           std::string_view("POST /livez HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
                            "hello"),
           std::string_view("GET /livez HTTP/1.1\r\nContent-Length: 1\r\n\r\n"
                            "x"),
           std::string_view("GET /livez HTTP/1.1\r\nTransfer-Encoding: "
                            "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
       }) {
    RequestStream stream(handler_, kHeaderLimit);
    std::string out;
    stream.Feed(request, out);
    EXPECT_TRUE(stream.close_after_write()) << request;
    const auto answers = Split(out);
    ASSERT_EQ(answers.size(), 1u) << request;
    EXPECT_EQ(answers[0].status, 413) << request;
    EXPECT_EQ(answers[0].Header("Connection"), "close") << request;
  }
}

TEST_F(RequestStreamTest, EmptyBodiesAreAccepted) {
  const auto answers = Split(AnswerAll(
      "GET /livez HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
      "GET /livez HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].status, 200);
  EXPECT_EQ(answers[1].status, 200);
}

TEST_F(RequestStreamTest, UnsupportedVersionIs505AndClose) {
  for (std::string_view request :
       {"GET /livez HTTP/2.0\r\n\r\n", "GET /livez HTTP/1.2\r\n\r\n",
        "GET /livez HTTP/0.9\r\n\r\n"}) {
    RequestStream stream(handler_, kHeaderLimit);
    std::string out;
    stream.Feed(request, out);
    EXPECT_TRUE(stream.close_after_write()) << request;
    const auto answers = Split(out);
    ASSERT_EQ(answers.size(), 1u) << request;
    EXPECT_EQ(answers[0].status, 505) << request;
    EXPECT_EQ(answers[0].body, "http version not supported\n") << request;
  }
}

}  // namespace
}  // namespace bgate::probes::detail
