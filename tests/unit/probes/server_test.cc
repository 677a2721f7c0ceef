#include "bgate/probes/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "bgate/sidecar/snapshot.h"

namespace bgate::probes {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

std::string Lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

// A blocking HTTP/1.1 client over a plain socket, so that the tests see
// exactly the bytes the server sends.
class Client {
 public:
  explicit Client(std::uint16_t port, int family = AF_INET) {
    fd_ = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    int rc = -1;
    if (family == AF_INET) {
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(port);
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&address),
                     sizeof(address));
    } else {
      sockaddr_in6 address{};
      address.sin6_family = AF_INET6;
      address.sin6_port = htons(port);
      address.sin6_addr = in6addr_loopback;
      rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&address),
                     sizeof(address));
    }
    if (rc != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return fd_ >= 0; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // One response framed by its Content-Length; nothing on timeout or close.
  std::optional<HttpResponse> Read(bool head = false,
                                   milliseconds timeout = 3000ms) {
    const auto deadline = Clock::now() + timeout;
    std::size_t end = 0;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return std::nullopt;
    }
    HttpResponse response;
    const std::string header = buffer_.substr(0, end + 2);
    std::size_t line_end = header.find("\r\n");
    const std::string status_line = header.substr(0, line_end);
    if (status_line.rfind("HTTP/1.1 ", 0) != 0) return std::nullopt;
    response.status = std::stoi(status_line.substr(9, 3));
    for (std::size_t pos = line_end + 2; pos < header.size();
         pos = line_end + 2) {
      line_end = header.find("\r\n", pos);
      const std::string line = header.substr(pos, line_end - pos);
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) return std::nullopt;
      std::string value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.erase(0, 1);
      response.headers[Lower(line.substr(0, colon))] = value;
    }
    const std::string length = response.Header("content-length");
    if (length.empty()) return std::nullopt;  // the server always sends it
    const std::size_t body_size = head ? 0 : std::stoul(length);
    buffer_.erase(0, end + 4);
    while (buffer_.size() < body_size) {
      if (!Fill(deadline)) return std::nullopt;
    }
    response.body = buffer_.substr(0, body_size);
    buffer_.erase(0, body_size);
    return response;
  }

  std::optional<HttpResponse> Get(const std::string& target) {
    if (!Send("GET " + target + " HTTP/1.1\r\nHost: test\r\n\r\n")) {
      return std::nullopt;
    }
    return Read();
  }

  // True once the server has closed the connection (end of stream or
  // reset) within `timeout`. Bytes received meanwhile are kept.
  bool WaitClosed(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Fill(deadline)) {
    }
    return closed_;
  }

  const std::string& pending() const { return buffer_; }

 private:
  // Reads what is there; false on timeout, end of stream or error.
  bool Fill(Clock::time_point deadline) {
    if (closed_) return false;
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready <= 0) return false;
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool closed_ = false;
  std::string buffer_;
};

sidecar::BackendStatus Backend(std::string name, sidecar::BackendState state) {
  sidecar::BackendStatus backend;
  backend.name = std::move(name);
  backend.driver = "posix";
  backend.state = state;
  return backend;
}

std::shared_ptr<const sidecar::Snapshot> TwoBackends() {
  auto snapshot = std::make_shared<sidecar::Snapshot>();
  snapshot->backends = {Backend("nfs", sidecar::BackendState::kReady),
                        Backend("s3", sidecar::BackendState::kFailed)};
  snapshot->backends[1].reason = drivers::Reason::kTimeout;
  return snapshot;
}

ServerOptions TestOptions() {
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.request_timeout = 3000ms;
  options.idle_timeout = 5000ms;
  return options;
}

// Restores the descriptor limit when a test that lowers it ends.
class DescriptorLimit {
 public:
  explicit DescriptorLimit(rlim_t soft) {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit lowered = saved_;
    lowered.rlim_cur = soft;
    ok_ = ::setrlimit(RLIMIT_NOFILE, &lowered) == 0;
  }
  ~DescriptorLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  DescriptorLimit(const DescriptorLimit&) = delete;
  DescriptorLimit& operator=(const DescriptorLimit&) = delete;
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  bool ok_ = false;
};

milliseconds CpuTime() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto micros = [](const timeval& t) {
    return std::chrono::seconds(t.tv_sec) +
           std::chrono::microseconds(t.tv_usec);
  };
  return std::chrono::duration_cast<milliseconds>(micros(usage.ru_utime) +
                                                  micros(usage.ru_stime));
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions options = TestOptions()) {
    server_ = std::make_unique<Server>(std::move(options), handler_);
    port_ = server_->Start();
    ASSERT_NE(port_, 0);
    run_ = std::async(std::launch::async, [this] { server_->Run(); });
  }

  void TearDown() override {
    if (!server_) return;
    server_->Stop();
    if (run_.valid()) {
      ASSERT_EQ(run_.wait_for(5s), std::future_status::ready)
          << "Run() did not return after Stop()";
    }
  }

  sidecar::SnapshotHolder holder_{TwoBackends()};
  std::atomic<bool> metrics_throw_{false};
  std::string metrics_ = "backup_gate_up 1\n";
  Handler handler_{HandlerSources{&holder_, [] { return true; },
                                  [this] {
                                    if (metrics_throw_) {
                                      throw std::runtime_error("broken");
                                    }
                                    return metrics_;
                                  }}};
  std::unique_ptr<Server> server_;
  std::future<void> run_;
  std::uint16_t port_ = 0;
};

// --- requests and answers ----------------------------------------------------

TEST_F(ServerTest, AnswersAProbe) {
  StartServer();
  Client client(port_);
  ASSERT_TRUE(client.connected());
  const auto response = client.Get("/livez");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "ok\n");
  EXPECT_EQ(response->Header("content-length"), "3");
  EXPECT_EQ(response->Header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(response->Header("cache-control"), "no-store");
  EXPECT_EQ(response->Header("connection"), "");
}

TEST_F(ServerTest, StatusCodesReachTheClient) {
  StartServer();
  Client client(port_);
  EXPECT_EQ(client.Get("/readyz")->status, 503);
  EXPECT_EQ(client.Get("/readyz/nfs")->status, 200);
  EXPECT_EQ(client.Get("/readyz/s3")->status, 503);
  EXPECT_EQ(client.Get("/readyz/nope")->status, 404);
  EXPECT_EQ(client.Get("/nope")->status, 404);
  const auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->body, metrics_);
  EXPECT_EQ(metrics->Header("content-type"),
            "text/plain; version=0.0.4; charset=utf-8");
}

TEST_F(ServerTest, MethodNotAllowedCarriesAllow) {
  StartServer();
  Client client(port_);
  ASSERT_TRUE(client.Send("DELETE /readyz HTTP/1.1\r\n\r\n"));
  const auto response = client.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(response->Header("allow"), "GET, HEAD");
  // Still usable afterwards.
  EXPECT_EQ(client.Get("/livez")->status, 200);
}

TEST_F(ServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  StartServer();
  Client client(port_);
  const auto first = client.Get("/livez");
  const auto second = client.Get("/readyz/nfs");
  ASSERT_TRUE(first);
  ASSERT_TRUE(second);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(second->status, 200);
  EXPECT_FALSE(client.WaitClosed(100ms));
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  Client client(port_);
  ASSERT_TRUE(client.Send(
      "GET /livez?verbose HTTP/1.1\r\n\r\n"
      "GET /readyz/nope HTTP/1.1\r\n\r\n"
      "HEAD /metrics HTTP/1.1\r\n\r\n"
      "GET /readyz/s3 HTTP/1.1\r\n\r\n"));
  const auto a = client.Read();
  const auto b = client.Read();
  const auto c = client.Read(/*head=*/true);
  const auto d = client.Read();
  ASSERT_TRUE(a && b && c && d);
  EXPECT_EQ(a->body, "[+]supervisor ok\nlivez check passed\n");
  EXPECT_EQ(b->status, 404);
  EXPECT_EQ(c->status, 200);
  EXPECT_EQ(d->status, 503);
  EXPECT_EQ(d->body, "[-]s3 failed: timeout\n");
  EXPECT_EQ(client.pending(), "");
}

TEST_F(ServerTest, ManyPipelinedRequestsAgainstASlowReader) {
  metrics_ = std::string(2000, 'm') + "\n";
  StartServer();
  Client client(port_);
  constexpr int kRequests = 400;
  std::string requests;
  for (int i = 0; i < kRequests; ++i) {
    requests += i % 2 == 0 ? "GET /metrics HTTP/1.1\r\n\r\n"
                           : "GET /readyz/nfs HTTP/1.1\r\n\r\n";
  }
  // Sent from another thread: the answers (~400 KB) outgrow the socket
  // buffers, so the server must stop reading until we read.
  auto sender = std::async(std::launch::async, [&client, &requests] {
    return client.Send(requests);
  });
  std::this_thread::sleep_for(200ms);
  for (int i = 0; i < kRequests; ++i) {
    const auto response = client.Read();
    ASSERT_TRUE(response) << i;
    ASSERT_EQ(response->body, i % 2 == 0 ? metrics_ : "ok\n") << i;
  }
  EXPECT_TRUE(sender.get());
}

TEST_F(ServerTest, RequestSplitIntoSmallPieces) {
  StartServer();
  Client client(port_);
  const std::string request = "GET /readyz/nfs HTTP/1.1\r\nHost: x\r\n\r\n";
  for (char c : request) {
    ASSERT_TRUE(client.Send(std::string_view(&c, 1)));
    std::this_thread::sleep_for(1ms);
  }
  const auto response = client.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST_F(ServerTest, HeadSendsHeadersWithoutBody) {
  StartServer();
  Client client(port_);
  ASSERT_TRUE(client.Send("HEAD /readyz HTTP/1.1\r\n\r\n"));
  const auto head = client.Read(/*head=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 503);
  const std::string body =
      "[+]nfs ok\n[-]s3 failed: timeout\nreadyz check failed\n";
  EXPECT_EQ(head->Header("content-length"), std::to_string(body.size()));
  // Had a body followed, it would be read as the next answer.
  const auto get = client.Get("/readyz");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->body, body);
}

TEST_F(ServerTest, ConnectionCloseIsHonoured) {
  StartServer();
  Client client(port_);
  ASSERT_TRUE(
      client.Send("GET /livez HTTP/1.1\r\nConnection: close\r\n\r\n"));
  const auto response = client.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("connection"), "close");
  EXPECT_TRUE(client.WaitClosed(2000ms));
}

TEST_F(ServerTest, Http10ClosesUnlessAskedToKeepAlive) {
  StartServer();
  Client plain(port_);
  ASSERT_TRUE(plain.Send("GET /livez HTTP/1.0\r\n\r\n"));
  const auto first = plain.Read();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->Header("connection"), "close");
  EXPECT_TRUE(plain.WaitClosed(2000ms));

  Client kept(port_);
  ASSERT_TRUE(
      kept.Send("GET /livez HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  const auto second = kept.Read();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->Header("connection"), "keep-alive");
  ASSERT_TRUE(
      kept.Send("GET /livez HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  EXPECT_TRUE(kept.Read());
}

TEST_F(ServerTest, HandlerExceptionIsAnInternalError) {
  StartServer();
  Client client(port_);
  metrics_throw_ = true;
  EXPECT_EQ(client.Get("/metrics")->status, 500);
  metrics_throw_ = false;
  EXPECT_EQ(client.Get("/metrics")->status, 200);
}

// --- malformed input ---------------------------------------------------------

TEST_F(ServerTest, OversizedHeaderIs431AndClose) {
  StartServer();
  Client client(port_);
  const std::string request = "GET /livez HTTP/1.1\r\nX-Big: " +
                              std::string(64 * 1024, 'a') + "\r\n\r\n";
  ASSERT_TRUE(client.Send(request));
  const auto response = client.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_EQ(response->Header("connection"), "close");
  EXPECT_TRUE(client.WaitClosed(2000ms));
}

// After a rejection the server stops sending but keeps reading for a while:
// a full close would answer the client's in-flight bytes with a reset, and
// some TCP stacks drop an unread answer when a reset arrives.
TEST_F(ServerTest, RejectionLingersInsteadOfResetting) {
  StartServer();
  Client client(port_);
  ASSERT_TRUE(
      client.Send("POST /livez HTTP/1.1\r\nContent-Length: 50000\r\n\r\n"));
  const auto response = client.Read();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_TRUE(client.WaitClosed(1000ms));  // our read side sees the FIN
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(client.Send(std::string(20000, 'x'))) << i;
    std::this_thread::sleep_for(30ms);
  }
}

TEST_F(ServerTest, LingeringEndsAtTheRequestTimeout) {
  ServerOptions options = TestOptions();
  options.request_timeout = 200ms;
  StartServer(options);
  Client client(port_);
  ASSERT_TRUE(client.Send("GET /livez HTTP/1.1\r\nContent-Length: 1\r\n\r\n"));
  ASSERT_EQ(client.Read()->status, 413);
  const auto start = Clock::now();
  bool refused = false;
  while (!refused && Clock::now() - start < 3s) {
    refused = !client.Send("x");
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(refused);
  EXPECT_LT(Clock::now() - start, 1500ms);
}

TEST_F(ServerTest, HeaderJustUnderTheLimitIsServed) {
  ServerOptions options = TestOptions();
  options.header_limit = 4096;
  StartServer(options);
  Client client(port_);
  ASSERT_TRUE(client.Send("GET /livez HTTP/1.1\r\nX-Pad: " +
                          std::string(3500, 'a') + "\r\n\r\n"));
  EXPECT_EQ(client.Read()->status, 200);
  ASSERT_TRUE(client.Send("GET /livez HTTP/1.1\r\nX-Pad: " +
                          std::string(5000, 'a') + "\r\n\r\n"));
  EXPECT_EQ(client.Read()->status, 431);
}

TEST_F(ServerTest, GarbageIs400AndClose) {
  StartServer();
  for (std::string_view garbage :
       {std::string_view("\x01\x02\x03 garbage\r\n\r\n"),
        std::string_view("GET\r\n\r\n"),
        std::string_view("GET /livez HTTP/1.1\r\nNo colon here\r\n\r\n"),
        std::string_view("GET /livez HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
        std::string_view("GET /livez HTTX/1.1\r\n\r\n")}) {
    Client client(port_);
    ASSERT_TRUE(client.Send(garbage));
    const auto response = client.Read();
    ASSERT_TRUE(response) << garbage;
    EXPECT_EQ(response->status, 400) << garbage;
    EXPECT_TRUE(client.WaitClosed(2000ms)) << garbage;
  }
}

TEST_F(ServerTest, AnswersBeforeAMalformedRequestAreKept) {
  StartServer();
  Client client(port_);
  ASSERT_TRUE(client.Send("GET /livez HTTP/1.1\r\n\r\nBROKEN\r\n\r\n"
                          "GET /livez HTTP/1.1\r\n\r\n"));
  const auto first = client.Read();
  const auto second = client.Read();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(second->status, 400);
  EXPECT_TRUE(client.WaitClosed(2000ms));
  EXPECT_EQ(client.pending(), "");
}

TEST_F(ServerTest, RequestBodyIs413AndClose) {
  StartServer();
  for (std::string_view request : {
           std::string_view("POST /livez HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
                            "hello"),
           std::string_view("GET /livez HTTP/1.1\r\nContent-Length: 1\r\n\r\n"
                            "x"),
           std::string_view("GET /livez HTTP/1.1\r\nTransfer-Encoding: "
                            "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
       }) {
    Client client(port_);
    ASSERT_TRUE(client.Send(request));
    const auto response = client.Read();
    ASSERT_TRUE(response) << request;
    EXPECT_EQ(response->status, 413) << request;
    EXPECT_TRUE(client.WaitClosed(2000ms)) << request;
  }
}

TEST_F(ServerTest, EmptyBodiesAreAccepted) {
  StartServer();
  Client client(port_);
  ASSERT_TRUE(client.Send(
      "GET /livez HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
      "GET /livez HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
  EXPECT_EQ(client.Read()->status, 200);
  EXPECT_EQ(client.Read()->status, 200);
}

TEST_F(ServerTest, UnsupportedVersionIs505AndClose) {
  StartServer();
  for (std::string_view request :
       {"GET /livez HTTP/2.0\r\n\r\n", "GET /livez HTTP/1.2\r\n\r\n",
        "GET /livez HTTP/0.9\r\n\r\n"}) {
    Client client(port_);
    ASSERT_TRUE(client.Send(request));
    const auto response = client.Read();
    ASSERT_TRUE(response) << request;
    EXPECT_EQ(response->status, 505) << request;
    EXPECT_TRUE(client.WaitClosed(2000ms)) << request;
  }
}

TEST_F(ServerTest, ClientClosingMidRequestIsHarmless) {
  StartServer();
  {
    Client client(port_);
    ASSERT_TRUE(client.Send("GET /livez HTTP/1.1\r\nHost"));
  }
  Client client(port_);
  EXPECT_EQ(client.Get("/livez")->status, 200);
}

// --- timeouts ----------------------------------------------------------------

TEST_F(ServerTest, SlowClientIsClosedAtRequestTimeout) {
  ServerOptions options = TestOptions();
  options.request_timeout = 200ms;
  StartServer(options);
  Client client(port_);
  const auto start = Clock::now();
  ASSERT_TRUE(client.Send("GET /livez HTTP/1.1\r\nX-Slow: "));
  // A byte every 50 ms must not extend the deadline.
  bool closed = false;
  while (!closed && Clock::now() - start < 3s) {
    closed = client.WaitClosed(50ms);
    if (!closed) client.Send("a");
  }
  const auto elapsed = Clock::now() - start;
  EXPECT_TRUE(closed);
  EXPECT_GE(elapsed, 180ms);
  EXPECT_LT(elapsed, 1500ms);
  EXPECT_EQ(client.pending(), "");  // closed without an answer
}

TEST_F(ServerTest, RequestTimeoutAppliesAfterALongerIdleWait) {
  ServerOptions options = TestOptions();
  options.request_timeout = 200ms;
  options.idle_timeout = 5000ms;
  StartServer(options);
  Client client(port_);
  ASSERT_EQ(client.Get("/livez")->status, 200);
  const auto start = Clock::now();
  ASSERT_TRUE(client.Send("GET /livez HTTP/1.1\r\n"));
  EXPECT_TRUE(client.WaitClosed(2000ms));
  EXPECT_LT(Clock::now() - start, 1500ms);
}

TEST_F(ServerTest, IdleConnectionIsClosedAtIdleTimeout) {
  ServerOptions options = TestOptions();
  options.idle_timeout = 200ms;
  StartServer(options);
  Client client(port_);
  ASSERT_EQ(client.Get("/livez")->status, 200);
  const auto start = Clock::now();
  EXPECT_TRUE(client.WaitClosed(2000ms));
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, 150ms);
  EXPECT_LT(elapsed, 1500ms);
}

TEST_F(ServerTest, ConnectionThatNeverSendsIsClosedAtIdleTimeout) {
  ServerOptions options = TestOptions();
  options.idle_timeout = 200ms;
  StartServer(options);
  Client client(port_);
  EXPECT_TRUE(client.WaitClosed(2000ms));
}

TEST_F(ServerTest, IdleConnectionOutlivesTheRequestTimeout) {
  ServerOptions options = TestOptions();
  options.request_timeout = 150ms;
  options.idle_timeout = 3000ms;
  StartServer(options);
  Client client(port_);
  ASSERT_EQ(client.Get("/livez")->status, 200);
  EXPECT_FALSE(client.WaitClosed(500ms));
  const auto again = client.Get("/livez");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
}

TEST_F(ServerTest, ActivityKeepsAKeepAliveConnectionOpen) {
  ServerOptions options = TestOptions();
  options.idle_timeout = 300ms;
  StartServer(options);
  Client client(port_);
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(client.Get("/livez")) << i;
    std::this_thread::sleep_for(100ms);
  }
}

// --- connection cap ----------------------------------------------------------

TEST_F(ServerTest, FullServerClosesTheOldestIdleConnection) {
  ServerOptions options = TestOptions();
  options.max_connections = 3;
  StartServer(options);
  Client a(port_), b(port_), c(port_);
  ASSERT_TRUE(a.Get("/livez"));
  ASSERT_TRUE(b.Get("/livez"));
  ASSERT_TRUE(c.Get("/livez"));
  // b becomes the most recently idle one after a, then c.
  ASSERT_TRUE(a.Get("/livez"));

  Client d(port_);
  const auto response = d.Get("/livez");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(b.WaitClosed(1000ms));
  EXPECT_TRUE(a.Get("/livez"));
  EXPECT_TRUE(c.Get("/livez"));
}

// Regression: 512 slow clients (one header byte each) used to turn every
// probe away until their request timeout.
TEST_F(ServerTest, FullServerOfSlowClientsClosesTheOldestRequest) {
  ServerOptions options = TestOptions();
  options.max_connections = 2;
  StartServer(options);
  Client a(port_), b(port_);
  ASSERT_TRUE(a.Get("/livez"));
  ASSERT_TRUE(b.Get("/livez"));
  ASSERT_TRUE(a.Send("GET /livez HTTP/1.1\r\n"));
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(b.Send("GET /livez HTTP/1.1\r\n"));
  std::this_thread::sleep_for(200ms);  // let the server see both halves

  Client c(port_);
  ASSERT_TRUE(c.Get("/livez")) << "the probe gets in";
  EXPECT_TRUE(a.WaitClosed(1000ms)) << "the oldest partial request went";
  ASSERT_TRUE(b.Send("\r\n"));
  EXPECT_EQ(b.Read()->status, 200) << "the younger one is kept";
}

TEST_F(ServerTest, ConnectionCapStaysUnderTheDescriptorLimit) {
  // 100 descriptors leave room for 36 connections; ask for 512.
  DescriptorLimit limit(100);
  ASSERT_TRUE(limit.ok());
  ServerOptions options = TestOptions();
  options.max_connections = 512;
  StartServer(options);
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 40; ++i) {
    clients.push_back(std::make_unique<Client>(port_));
    ASSERT_TRUE(clients.back()->Get("/livez")) << i;
  }
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(clients[i]->WaitClosed(1000ms)) << i;
  }
  EXPECT_TRUE(clients[4]->Get("/livez"));
  EXPECT_TRUE(clients[39]->Get("/livez"));
}

TEST_F(ServerTest, ManyIdleConnectionsDoNotDelayAProbe) {
  StartServer();
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 300; ++i) {
    idle.push_back(std::make_unique<Client>(port_));
    ASSERT_TRUE(idle.back()->connected()) << i;
    ASSERT_TRUE(idle.back()->Send("GET /livez HTTP/1.1\r\n\r\n")) << i;
  }
  for (auto& client : idle) ASSERT_TRUE(client->Read());

  Client probe(port_);
  const auto start = Clock::now();
  const auto response = probe.Get("/readyz/nfs");
  const auto elapsed = Clock::now() - start;
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_LT(elapsed, 250ms);
  // None of them was given up to make room.
  EXPECT_FALSE(idle.front()->WaitClosed(10ms));
  EXPECT_TRUE(idle.front()->Get("/livez"));
}

TEST_F(ServerTest, AcceptBacksOffWhileOutOfDescriptors) {
  StartServer();
  std::vector<int> fillers;
  std::unique_ptr<Client> client;
  {
    DescriptorLimit limit(256);
    ASSERT_TRUE(limit.ok());
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) {
      fillers.push_back(fd);
    }
    ASSERT_EQ(errno, EMFILE);
    ::close(fillers.back());
    fillers.pop_back();
    client = std::make_unique<Client>(port_);  // takes the last descriptor
    ASSERT_TRUE(client->connected());
    ASSERT_TRUE(client->Send("GET /livez HTTP/1.1\r\n\r\n"));

    const milliseconds cpu_before = CpuTime();
    std::this_thread::sleep_for(300ms);
    EXPECT_LT(CpuTime() - cpu_before, 100ms) << "accept loop spins";
    for (int fd : fillers) ::close(fd);
  }
  const auto response = client->Read(false, 2000ms);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

// --- start and stop ----------------------------------------------------------

TEST_F(ServerTest, StopMakesRunReturnWithConnectionsOpen) {
  StartServer();
  Client idle(port_);
  ASSERT_TRUE(idle.Get("/livez"));
  Client partial(port_);
  ASSERT_TRUE(partial.Send("GET /livez HTTP/1.1\r\n"));
  std::this_thread::sleep_for(50ms);

  server_->Stop();
  ASSERT_EQ(run_.wait_for(2s), std::future_status::ready);
  EXPECT_TRUE(idle.WaitClosed(1000ms));
  EXPECT_TRUE(partial.WaitClosed(1000ms));
  Client late(port_);
  EXPECT_FALSE(late.connected());
}

TEST_F(ServerTest, StopIsIdempotentAndThreadSafe) {
  StartServer();
  std::vector<std::thread> stoppers;
  for (int i = 0; i < 4; ++i) {
    stoppers.emplace_back([this] { server_->Stop(); });
  }
  for (auto& t : stoppers) t.join();
  server_->Stop();
  EXPECT_EQ(run_.wait_for(2s), std::future_status::ready);
}

TEST_F(ServerTest, StopBeforeRunMakesRunReturn) {
  server_ = std::make_unique<Server>(TestOptions(), handler_);
  port_ = server_->Start();
  server_->Stop();
  run_ = std::async(std::launch::async, [this] { server_->Run(); });
  EXPECT_EQ(run_.wait_for(2s), std::future_status::ready);
}

TEST_F(ServerTest, StartReportsABusyPort) {
  StartServer();
  ServerOptions options = TestOptions();
  options.port = port_;
  Server second(options, handler_);
  try {
    second.Start();
    FAIL() << "bound a port already in use";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::errc::address_in_use);
    EXPECT_EQ(std::string(error.what()).rfind(
                  "cannot listen on 127.0.0.1:" + std::to_string(port_) + ": ",
                  0),
              0u)
        << error.what();
  }
}

TEST_F(ServerTest, StartRejectsAHostThatIsNotAnAddress) {
  ServerOptions options = TestOptions();
  options.host = "backup.example";
  options.port = 8081;
  Server server(options, handler_);
  try {
    server.Start();
    FAIL() << "started on a host name";
  } catch (const std::system_error& error) {
    EXPECT_EQ(std::string(error.what()).rfind(
                  "cannot listen on backup.example:8081: ", 0),
              0u)
        << error.what();
  }
}

TEST_F(ServerTest, ListensOnLocalhost) {
  ServerOptions options = TestOptions();
  options.host = "localhost";
  StartServer(options);
  Client client(port_);
  EXPECT_EQ(client.Get("/livez")->status, 200);
}

TEST_F(ServerTest, ListensOnAllInterfaces) {
  ServerOptions options = TestOptions();
  options.host = "0.0.0.0";
  StartServer(options);
  Client client(port_);
  EXPECT_EQ(client.Get("/livez")->status, 200);
}

TEST_F(ServerTest, ListensOnIpv6Loopback) {
  ServerOptions options = TestOptions();
  options.host = "::1";
  Server probe(options, handler_);
  try {
    probe.Start();
  } catch (const std::system_error& error) {
    GTEST_SKIP() << "no IPv6 loopback here: " << error.what();
  }
  StartServer(options);
  Client client(port_, AF_INET6);
  ASSERT_TRUE(client.connected());
  EXPECT_EQ(client.Get("/livez")->status, 200);
}

TEST_F(ServerTest, Ipv6ErrorsNameTheAddressInBrackets) {
  ServerOptions options = TestOptions();
  options.host = "::ffff:zz";
  options.port = 9;
  Server server(options, handler_);
  try {
    server.Start();
    FAIL();
  } catch (const std::system_error& error) {
    EXPECT_EQ(std::string(error.what()).rfind(
                  "cannot listen on [::ffff:zz]:9: ", 0),
              0u)
        << error.what();
  }
}

}  // namespace
}  // namespace bgate::probes
