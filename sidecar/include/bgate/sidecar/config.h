#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bgate/drivers/driver.h"
#include "bgate/drivers/registry.h"

namespace bgate::sidecar {

using std::chrono::nanoseconds;

// Schedule and thresholds of one backend (defaults under `check:`, each
// backend may override any of them).
struct CheckSettings {
  nanoseconds interval = std::chrono::seconds(30);
  nanoseconds timeout = std::chrono::seconds(10);
  int failure_threshold = 1;
  int success_threshold = 1;
  nanoseconds retry_initial = std::chrono::seconds(1);
  nanoseconds retry_max = std::chrono::seconds(60);
  bool periodic_initialization = true;
};

struct BackendConfig {
  std::string name;
  std::string driver;
  CheckSettings check;
  std::shared_ptr<const drivers::DriverOptions> options;
};

enum class ReadinessPolicy { kAll, kAny };
std::string_view PolicyName(ReadinessPolicy policy);

struct ServerConfig {
  std::string address = "0.0.0.0:8080";  // as written
  std::string host = "0.0.0.0";
  std::uint16_t port = 8080;
  nanoseconds drain_delay = std::chrono::seconds(5);
};

enum class RestartPolicy { kAlways, kOnFailure, kNever };
std::string_view RestartPolicyName(RestartPolicy policy);

// How `backup-gate run` gates its worker (the section matters only there).
struct WorkerConfig {
  // Continuous unreadiness the worker rides out before it is stopped.
  nanoseconds stop_after = std::chrono::seconds(60);
  int stop_signal = SIGTERM;
  // From the stop signal to SIGKILL.
  nanoseconds stop_timeout = std::chrono::seconds(30);
  RestartPolicy restart = RestartPolicy::kAlways;
  nanoseconds restart_initial = std::chrono::seconds(1);
  nanoseconds restart_max = std::chrono::seconds(60);
};

// A signal by name (SIGTERM or TERM); nothing when unknown or not one a
// worker can be asked to stop with.
std::optional<int> ParseStopSignal(std::string_view name);
// "SIGTERM" for 15.
std::string StopSignalName(int signal);

// The whole configuration, parsed once. Immutable after parsing, hence
// thread-safe to share.
struct Config {
  ServerConfig server;
  CheckSettings check;  // the defaults
  ReadinessPolicy policy = ReadinessPolicy::kAll;
  std::vector<std::string> required;
  std::string state_file;
  WorkerConfig worker;
  std::vector<BackendConfig> backends;
  // Where values that may come from elsewhere came from, e.g.
  // {"server.address", "flag --address"}.
  std::vector<drivers::Setting> overrides;
};

struct ConfigResult {
  std::optional<Config> config;
  std::vector<std::string> errors;  // each "field: message"
};

inline constexpr std::size_t kMaxConfigBytes = 1 << 20;

// Parses YAML text. Every error is collected, each naming its field.
ConfigResult ParseConfig(std::string_view yaml,
                         const drivers::DriverRegistry& registry);
// Reads at most kMaxConfigBytes from a regular file, then ParseConfig.
ConfigResult LoadConfigFile(const std::string& path,
                            const drivers::DriverRegistry& registry);
// The config used when no --config is given: one posix backend on
// `data_dir` (an absolute path), served on 127.0.0.1:8080.
std::string DefaultConfigYaml(const std::string& data_dir);

// Splits "host:port", "[v6]:port" or ":port"; nothing when malformed.
std::optional<std::pair<std::string, std::uint16_t>> SplitHostPort(
    std::string_view address);

// The effective config as YAML, with defaults filled in and a comment on
// each value that came from somewhere other than the file.
std::string DescribeConfig(const Config& config);

}  // namespace bgate::sidecar
