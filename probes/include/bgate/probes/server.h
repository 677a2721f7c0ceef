#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "bgate/probes/handler.h"

namespace bgate::probes {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 picks a free port
  std::size_t max_connections = 512;
  std::size_t header_limit = 16 * 1024;
  // A request must arrive whole within this time of its first byte.
  std::chrono::milliseconds request_timeout{10000};
  // A keep-alive connection with no request in flight is closed after this.
  std::chrono::milliseconds idle_timeout{60000};
};

// The probe HTTP/1.1 server: one thread, bounded header size, timeouts on
// slow and idle clients, a connection cap that closes the oldest idle
// connection rather than refusing a new one. Start, Run and Stop may be
// called from different threads; Stop is thread-safe and idempotent.
class Server {
 public:
  Server(ServerOptions options, const Handler& handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens; returns the bound port. Throws std::system_error with
  // a clear message when the address cannot be bound.
  std::uint16_t Start();
  // Serves until Stop; call from one thread after Start.
  void Run();
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bgate::probes
