#pragma once

// Real local peers for the HTTP client tests: an in-process HTTP server
// thread, bare sockets, and child processes (openssl s_server).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bgate::drivers::http::testing {

using namespace std::chrono_literals;

// A socket bound to 127.0.0.1 on a free port. Not thread-safe.
class BoundSocket {
 public:
  BoundSocket() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~BoundSocket() { Close(); }
  BoundSocket(const BoundSocket&) = delete;
  BoundSocket& operator=(const BoundSocket&) = delete;

  // Accepted by the kernel but never by anyone: a blackhole.
  void Listen() { ::listen(fd_, 16); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A port that nothing listens on now (for a child process to take).
inline int FreePort() { return BoundSocket().port(); }

// True once something accepts connections on `port`; false after `limit`
// or as soon as `alive` says the would-be listener is gone.
inline bool WaitForListener(
    int port, std::chrono::milliseconds limit,
    const std::function<bool()>& alive = [] { return true; }) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until && alive()) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    bool ok =
        ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// A child process with its output discarded; killed and reaped on
// destruction. Not thread-safe.
class ChildProcess {
 public:
  explicit ChildProcess(std::vector<std::string> argv) {
    pid_ = ::fork();
    if (pid_ == 0) {
      int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
      std::vector<char*> args;
      for (auto& arg : argv) args.push_back(arg.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  ~ChildProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool Running() {
    if (pid_ <= 0) return false;
    if (::waitpid(pid_, nullptr, WNOHANG) == 0) return true;
    pid_ = -1;  // reaped
    return false;
  }

 private:
  pid_t pid_ = -1;
};

// What the server does with one request.
struct Reply {
  std::string bytes;  // written as is
  std::chrono::milliseconds delay{0};
  bool close = false;  // close the connection after writing
  bool reset = false;  // close with RST instead of answering
  bool hang = false;   // write `bytes`, then hold the connection until stop
};

inline Reply Answer(int status, const std::string& body,
                    const std::string& extra_headers = "") {
  return {"HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body};
}

// An HTTP/1.1 server on 127.0.0.1 with a thread per connection. Records
// every request (head and body). Thread-safe.
class TestServer {
 public:
  using Handler = std::function<Reply(const std::string& request)>;

  explicit TestServer(Handler handler) : handler_(std::move(handler)) {
    socket_.Listen();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~TestServer() {
    stopping_ = true;
    ::shutdown(socket_.fd(), SHUT_RDWR);
    accept_thread_.join();
    {
      std::lock_guard lock(mu_);
      for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : connection_threads_) t.join();
  }

  int port() const { return socket_.port(); }
  std::string Url(const std::string& target = "/") const {
    return "http://127.0.0.1:" + std::to_string(port()) + target;
  }
  std::vector<std::string> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  int connections() const { return connections_; }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      int fd = ::accept4(socket_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      ++connections_;
      std::lock_guard lock(mu_);
      open_.push_back(fd);
      connection_threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  // One request: its head, then Content-Length bytes of body.
  bool ReadRequest(int fd, std::string& buffer, std::string* request) {
    std::size_t end;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadMore(fd, buffer)) return false;
    }
    std::size_t length = 0;
    std::string head = buffer.substr(0, end);
    std::string lower = head;
    for (char& c : lower)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (auto pos = lower.find("\r\ncontent-length:");
        pos != std::string::npos) {
      length = std::stoul(head.substr(pos + 17));
    }
    while (buffer.size() < end + 4 + length) {
      if (!ReadMore(fd, buffer)) return false;
    }
    *request = buffer.substr(0, end + 4 + length);
    buffer.erase(0, end + 4 + length);
    return true;
  }

  static bool ReadMore(int fd, std::string& buffer) {
    char chunk[16384];
    ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  void Serve(int fd) {
    std::string buffer;
    std::string request;
    while (ReadRequest(fd, buffer, &request)) {
      {
        std::lock_guard lock(mu_);
        requests_.push_back(request);
      }
      Reply reply = handler_(request);
      if (reply.delay.count() > 0) std::this_thread::sleep_for(reply.delay);
      if (reply.reset) {
        linger hard{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
        break;
      }
      std::size_t sent = 0;
      while (sent < reply.bytes.size()) {
        ssize_t n = ::send(fd, reply.bytes.data() + sent,
                           reply.bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
      }
      if (reply.hang) {
        while (!stopping_ && ReadMore(fd, buffer)) {
        }
        break;
      }
      if (reply.close) break;
    }
    std::lock_guard lock(mu_);
    std::erase(open_, fd);
    ::close(fd);
  }

  Handler handler_;
  BoundSocket socket_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  std::vector<std::string> requests_;
  std::vector<int> open_;
  std::vector<std::thread> connection_threads_;
  std::thread accept_thread_;
};

// A directory removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "bgate-http-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string File(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace bgate::drivers::http::testing
