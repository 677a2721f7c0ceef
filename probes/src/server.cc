#include "bgate/probes/server.h"

#include <fcntl.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
// Before any Asio header: Boost 1.74's asio/awaitable.hpp uses std::exchange
// without including it, which GCC 12 in C++20 mode rejects.
#include <utility>

// GCC 12 warns that ThreadSanitizer cannot see the fences inside Asio. Only
// post() crosses threads here, and it takes a mutex TSan does see.
#if defined(__SANITIZE_THREAD__)
#pragma GCC diagnostic ignored "-Wtsan"
#endif
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/system/error_code.hpp>

#include "request_stream.h"

namespace bgate::probes {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 4096;
// Descriptors left for everything else the process opens (drivers, logs).
constexpr rlim_t kDescriptorMargin = 64;
// accept() fails at once and forever while descriptors are exhausted.
constexpr std::chrono::milliseconds kAcceptBackoff{50};
// After an answer that closes the connection we keep reading (and dropping)
// what the client still sends for at most this long: closing a socket with
// unread input sends a reset, which can destroy the answer in flight.
constexpr std::chrono::milliseconds kLingerTimeout{2000};

void SetCloseOnExec(int fd) {
  // Drivers may start programs; they must not inherit our sockets.
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

class Connection;

// What connections share with the server. Touched only on the server's
// thread.
struct Registry {
  const Handler& handler;
  std::uint32_t header_limit;
  Clock::duration request_timeout;
  Clock::duration idle_timeout;
  std::list<Connection*> open;
  std::list<Connection*> idle;  // longest idle first
};

// One client connection. Lives as long as one of its asynchronous
// operations is pending; the registry only points at it while it is open.
// Not thread-safe: used only on the server's thread.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Registry& registry, tcp::socket socket)
      : registry_(registry),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        in_(std::size_t{registry.header_limit} + kReadChunk),
        stream_(registry.handler, registry.header_limit) {
    timer_.expires_at(Clock::time_point::max());
  }

  void Start() {
    open_pos_ = registry_.open.insert(registry_.open.end(), this);
    BecomeIdle();
    Read();
  }

  // When the partial request being read began; max() when not reading.
  Clock::time_point reading_since() const {
    return phase_ == Phase::kReading ? reading_since_
                                     : Clock::time_point::max();
  }

  void Close() {
    if (phase_ == Phase::kClosed) return;
    Unlist();
    registry_.open.erase(open_pos_);
    phase_ = Phase::kClosed;
    error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
  }

 private:
  enum class Phase {
    kIdle,       // waiting for the first byte of a request
    kReading,    // part of a request is buffered
    kWriting,    // answers are being sent; nothing is read meanwhile
    kLingering,  // answered and closing; input is dropped
    kClosed,
  };

  void BecomeIdle() {
    phase_ = Phase::kIdle;
    List(/*first=*/false);
    SetDeadline(Clock::now() + registry_.idle_timeout);
  }

  // Idle and lingering connections are the ones given up when the server is
  // full; lingering ones go first.
  void List(bool first) {
    idle_pos_ = registry_.idle.insert(
        first ? registry_.idle.begin() : registry_.idle.end(), this);
    listed_ = true;
  }

  void Unlist() {
    if (!listed_) return;
    registry_.idle.erase(idle_pos_);
    listed_ = false;
  }

  void Read() {
    // The parser fails once the unparsed header reaches header_limit, so
    // there is always room for one more chunk.
    const std::size_t room = in_.max_size() - in_.size();
    socket_.async_read_some(
        in_.prepare(std::min(kReadChunk, room)),
        [self = shared_from_this()](error_code ec, std::size_t bytes) {
          self->OnRead(ec, bytes);
        });
  }

  void OnRead(error_code ec, std::size_t bytes) {
    if (phase_ == Phase::kClosed) return;
    if (ec) return Close();
    in_.commit(bytes);
    if (phase_ == Phase::kLingering) {
      in_.clear();
      return Read();
    }
    if (phase_ == Phase::kIdle) {
      Unlist();
      phase_ = Phase::kReading;
      reading_since_ = Clock::now();
      SetDeadline(reading_since_ + registry_.request_timeout);
    }
    Process();
  }

  // Answers every complete request buffered, then either sends the answers
  // or waits for more input.
  void Process() {
    const auto input = in_.data();
    in_.consume(stream_.Feed(
        {static_cast<const char*>(input.data()), input.size()}, out_));
    if (!out_.empty()) return Write();
    if (in_.size() == 0 && !stream_.mid_request()) {
      if (phase_ != Phase::kIdle) BecomeIdle();
    } else if (phase_ != Phase::kReading) {
      phase_ = Phase::kReading;
      reading_since_ = Clock::now();
      SetDeadline(reading_since_ + registry_.request_timeout);
    }
    Read();
  }

  void Write() {
    phase_ = Phase::kWriting;
    SetDeadline(Clock::now() + registry_.request_timeout);
    asio::async_write(
        socket_, asio::buffer(out_),
        [self = shared_from_this()](error_code ec, std::size_t) {
          self->OnWrite(ec);
        });
  }

  void OnWrite(error_code ec) {
    if (phase_ == Phase::kClosed) return;
    if (ec) return Close();
    out_.clear();
    if (stream_.close_after_write()) return Linger();
    Process();
  }

  void Linger() {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    phase_ = Phase::kLingering;
    in_.clear();
    List(/*first=*/true);
    SetDeadline(Clock::now() + std::min<Clock::duration>(
                                   kLingerTimeout, registry_.request_timeout));
    Read();
  }

  // The timer is re-armed only when the deadline moves earlier than its
  // expiry; a later deadline is picked up when the timer fires.
  void SetDeadline(Clock::time_point deadline) {
    deadline_ = deadline;
    if (deadline < timer_.expiry()) ArmTimer();
  }

  void ArmTimer() {
    timer_.expires_at(deadline_);
    timer_.async_wait(
        [self = shared_from_this()](error_code ec) { self->OnTimer(ec); });
  }

  void OnTimer(error_code ec) {
    if (ec == asio::error::operation_aborted || phase_ == Phase::kClosed) {
      return;
    }
    if (Clock::now() < deadline_) return ArmTimer();
    Close();
  }

  Registry& registry_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  Clock::time_point deadline_;
  boost::beast::flat_buffer in_;
  detail::RequestStream stream_;
  std::string out_;
  Clock::time_point reading_since_ = Clock::time_point::max();
  Phase phase_ = Phase::kIdle;
  std::list<Connection*>::iterator open_pos_;
  std::list<Connection*>::iterator idle_pos_;
  bool listed_ = false;
};

// Keeps deadline arithmetic clear of overflow for absurd settings.
Clock::duration Bounded(std::chrono::milliseconds timeout) {
  return std::clamp<std::chrono::milliseconds>(timeout, {},
                                               std::chrono::hours(24));
}

std::size_t ClampToDescriptors(std::size_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur != RLIM_INFINITY) {
    const rlim_t usable = limit.rlim_cur > kDescriptorMargin
                              ? limit.rlim_cur - kDescriptorMargin
                              : 1;
    wanted = std::min<std::size_t>(wanted, usable);
  }
  return std::max<std::size_t>(wanted, 1);
}

std::string HostPort(const std::string& host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

asio::ip::address ResolveHost(const std::string& host, error_code& ec) {
  if (host == "localhost") return asio::ip::address_v4::loopback();
  return asio::ip::make_address(host, ec);
}

bool OutOfDescriptors(const error_code& ec) {
  namespace errc = boost::system::errc;
  return ec == errc::too_many_files_open ||
         ec == errc::too_many_files_open_in_system ||
         ec == errc::no_buffer_space || ec == errc::not_enough_memory;
}

}  // namespace

class Server::Impl {
 public:
  Impl(ServerOptions options, const Handler& handler)
      : options_(std::move(options)),
        registry_{handler,
                  static_cast<std::uint32_t>(std::min<std::size_t>(
                      options_.header_limit,
                      std::numeric_limits<std::uint32_t>::max())),
                  Bounded(options_.request_timeout),
                  Bounded(options_.idle_timeout),
                  {},
                  {}} {}

  std::uint16_t Start() {
    max_connections_ = ClampToDescriptors(options_.max_connections);
    const std::string where =
        "cannot listen on " + HostPort(options_.host, options_.port);
    error_code ec;
    const asio::ip::address address = ResolveHost(options_.host, ec);
    if (ec) throw std::system_error(ec, where);

    const tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      error_code ignored;
      acceptor_.close(ignored);
      throw std::system_error(ec, where);
    }
    SetCloseOnExec(acceptor_.native_handle());
    const std::uint16_t port = acceptor_.local_endpoint(ec).port();
    Accept();
    return port;
  }

  void Run() { ioc_.run(); }

  void Stop() {
    if (stopped_.exchange(true)) return;
    asio::post(ioc_, [this] { CloseAll(); });
  }

 private:
  void Accept() {
    acceptor_.async_accept([this](error_code ec, tcp::socket socket) {
      OnAccept(ec, std::move(socket));
    });
  }

  void OnAccept(error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open()) return;
    if (ec && OutOfDescriptors(ec)) return BackOff();
    if (!ec) Serve(std::move(socket));
    Accept();
  }

  void BackOff() {
    accept_backoff_.expires_after(kAcceptBackoff);
    accept_backoff_.async_wait([this](error_code ec) {
      if (!ec && acceptor_.is_open()) Accept();
    });
  }

  void Serve(tcp::socket socket) {
    if (registry_.open.size() >= max_connections_ && !MakeRoom()) return;
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    SetCloseOnExec(socket.native_handle());
    std::make_shared<Connection>(registry_, std::move(socket))->Start();
  }

  // Full: an idle client reconnects cheaply, a probe turned away fails. With
  // no idle connection, the one whose request has been arriving longest
  // goes: slow clients (slowloris) cannot lock the kubelet out, and a probe
  // that sends its request at once is never the oldest. Only when every
  // connection is writing an answer is the newcomer dropped.
  bool MakeRoom() {
    if (!registry_.idle.empty()) {
      registry_.idle.front()->Close();
      return true;
    }
    Connection* slowest = nullptr;
    for (Connection* c : registry_.open) {
      if (slowest == nullptr || c->reading_since() < slowest->reading_since()) {
        slowest = c;
      }
    }
    if (slowest == nullptr ||
        slowest->reading_since() == Clock::time_point::max()) {
      return false;
    }
    slowest->Close();
    return true;
  }

  void CloseAll() {
    error_code ignored;
    acceptor_.close(ignored);
    accept_backoff_.cancel();
    while (!registry_.open.empty()) registry_.open.front()->Close();
  }

  ServerOptions options_;
  Registry registry_;
  std::size_t max_connections_ = 1;
  std::atomic<bool> stopped_{false};
  // Declared after the registry so that it goes first: destroying the
  // io_context destroys the connections its pending handlers still own.
  asio::io_context ioc_{1};
  tcp::acceptor acceptor_{ioc_};
  asio::steady_timer accept_backoff_{ioc_};
};

Server::Server(ServerOptions options, const Handler& handler)
    : impl_(std::make_unique<Impl>(std::move(options), handler)) {}

Server::~Server() = default;

std::uint16_t Server::Start() { return impl_->Start(); }

void Server::Run() { impl_->Run(); }

void Server::Stop() { impl_->Stop(); }

}  // namespace bgate::probes
