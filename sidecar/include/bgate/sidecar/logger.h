#pragma once

#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace bgate::sidecar {

enum class LogLevel { kDebug, kInfo, kWarn, kError };
std::optional<LogLevel> ParseLogLevel(std::string_view name);

// Writes one JSON object per line (time, level, msg, then the given
// fields). Thread-safe: lines from different threads never interleave.
class Logger {
 public:
  explicit Logger(std::FILE* out = stderr, LogLevel min = LogLevel::kInfo)
      : out_(out), min_(min) {}

  bool Enabled(LogLevel level) const { return level >= min_; }
  void Log(LogLevel level, std::string_view msg,
           nlohmann::ordered_json fields = nlohmann::ordered_json::object());

 private:
  std::mutex mutex_;
  std::FILE* out_;
  LogLevel min_;
};

// RFC 3339 UTC with milliseconds, e.g. 2026-01-02T03:04:05.678Z.
std::string FormatTime(std::chrono::system_clock::time_point t);

}  // namespace bgate::sidecar
