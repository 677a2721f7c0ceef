#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bgate/drivers/driver.h"
#include "bgate/drivers/options.h"
#include "bgate/drivers/registry.h"

namespace bgate::drivers::exec {

inline constexpr std::string_view kDriverName = "exec";
// Output kept per run; the rest is read and dropped so that a chatty command
// never blocks on a full pipe.
inline constexpr std::size_t kKeptOutputBytes = 64 * 1024;
// The part of the first output line that becomes the detail.
inline constexpr std::size_t kFirstLineBytes = 256;

struct ExecConfig {
  // argv; the first element is an absolute path or a name looked up in PATH.
  std::vector<std::string> command;
};

// Parsed exec options. Immutable, hence thread-safe.
class ExecOptions final : public DriverOptions {
 public:
  explicit ExecOptions(ExecConfig config);

  const ExecConfig& config() const { return config_; }
  std::vector<Setting> Describe() const override;
  std::unique_ptr<Driver> CreateDriver(
      const DriverContext& context) const override;

 private:
  ExecConfig config_;
};

// Runs an operator-supplied command as the check: exit status 0 means ready.
// The command runs without a shell in its own process group, which is killed
// as a whole when the command exits or overstays the deadline. Not
// thread-safe, like every Driver.
class ExecDriver final : public Driver {
 public:
  explicit ExecDriver(ExecConfig config);
  ExecDriver(const ExecDriver&) = delete;
  ExecDriver& operator=(const ExecDriver&) = delete;
  ~ExecDriver() override;

  // Resolves the program (through PATH when it has no slash) and confirms it
  // is executable.
  Outcome Setup(const Deadline& deadline) override;
  Outcome Check(const Deadline& deadline) override;

 private:
  void ReapLeftovers();

  ExecConfig config_;
  // The resolved program, empty until Setup succeeds.
  std::string program_;
  // Groups whose members did not die within the grace period (a process in
  // uninterruptible sleep on a hung mount); reaped by later checks.
  std::vector<pid_t> leftover_groups_;
};

// Reads `command`: a non-empty list of strings. Returns nullptr when it
// recorded errors.
std::shared_ptr<const DriverOptions> ParseExecOptions(NodeReader& reader);

// SIGKILLs the process group of every command running now, in every exec
// driver: for a process about to leave without waiting for its attempts,
// so that no check command outlives it.
void KillRunningCommands();

void Register(DriverRegistry& registry);

}  // namespace bgate::drivers::exec
