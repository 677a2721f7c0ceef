// backup-gate: runs backup storage initialization beside a backup worker and
// tells Kubernetes, through /readyz, whether the storage works. This file is
// glue only: flags, config, wiring, signals and exit codes.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <thread>

#include <CLI/CLI.hpp>

#include "bgate/drivers/exec/exec_driver.h"
#include "bgate/drivers/registry.h"
#include "bgate/probes/handler.h"
#include "bgate/probes/metrics.h"
#include "bgate/probes/server.h"
#include "bgate/sidecar/child_reaper.h"
#include "bgate/sidecar/config.h"
#include "bgate/sidecar/json_log_sink.h"
#include "bgate/sidecar/logger.h"
#include "bgate/sidecar/one_shot_check.h"
#include "bgate/sidecar/state_file_sink.h"
#include "bgate/sidecar/supervisor.h"
#include "bgate/sidecar/version.h"
#include "bgate/sidecar/worker_runner.h"

namespace {

using namespace bgate;

// Exit codes: the contract with init containers, exec probes and scripts.
constexpr int kExitOk = 0;
constexpr int kExitNotReady = 1;  // check: not ready; serve: runtime failure
constexpr int kExitUsage = 2;     // bad flags or bad config
// run: otherwise the worker's own exit status.

constexpr char kDefaultDataDir[] = "./backup-gate-data";
// The supervisor loop turns at least once a second; this much silence means
// it is stuck and /livez should fail so the kubelet restarts the container.
constexpr auto kWatchdogStall = std::chrono::seconds(10);

struct Flags {
  std::string config_path;
  std::string address;
  std::string log_level = "info";
  std::string output = "text";
  std::vector<std::string> worker;  // run: the worker's argv
};

std::optional<sidecar::Config> LoadConfig(const Flags& flags,
                                          const drivers::DriverRegistry& registry) {
  sidecar::ConfigResult result;
  if (flags.config_path.empty()) {
    // The embedded default must work on a fresh machine.
    if (::mkdir(kDefaultDataDir, 0755) != 0 && errno != EEXIST) {
      std::fprintf(stderr, "backup-gate: cannot create %s: %s\n",
                   kDefaultDataDir, std::strerror(errno));
    }
    char cwd[4096];
    std::string dir = ::getcwd(cwd, sizeof cwd) != nullptr
                          ? std::string(cwd) + "/" + (kDefaultDataDir + 2)
                          : std::string(kDefaultDataDir);
    result = sidecar::ParseConfig(sidecar::DefaultConfigYaml(dir), registry);
  } else {
    result = sidecar::LoadConfigFile(flags.config_path, registry);
  }
  if (result.config && !flags.address.empty()) {
    if (auto split = sidecar::SplitHostPort(flags.address)) {
      auto& server = result.config->server;
      server.address = flags.address;
      server.host = split->first;
      server.port = split->second;
      result.config->overrides.push_back(
          {"server.address", flags.address, "flag --address"});
    } else {
      result.errors.push_back("--address: \"" + flags.address +
                              "\" is not host:port");
      result.config.reset();
    }
  }
  if (!result.config) {
    // Field paths are relative to the file: name it.
    const std::string where =
        flags.config_path.empty() ? "" : " in " + flags.config_path;
    std::fprintf(stderr, "backup-gate: invalid configuration (%zu %s)%s:\n",
                 result.errors.size(),
                 result.errors.size() == 1 ? "error" : "errors", where.c_str());
    for (const auto& e : result.errors) std::fprintf(stderr, "  %s\n", e.c_str());
    return std::nullopt;
  }
  return std::move(result.config);
}

std::string InstanceId() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "unknown");
  std::random_device random;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%08x", random());
  return std::string(host) + "-" + std::to_string(::getpid()) + "-" + suffix;
}

std::vector<sidecar::Supervisor::Backend> CreateDrivers(
    const sidecar::Config& config) {
  std::vector<sidecar::Supervisor::Backend> backends;
  const std::string instance = InstanceId();
  for (const auto& b : config.backends) {
    drivers::DriverContext context{b.name, instance};
    backends.push_back({b, std::shared_ptr<drivers::Driver>(
                               b.options->CreateDriver(context))});
  }
  return backends;
}

// Leaves at once, without waiting for threads stuck in storage I/O; check
// commands still running go too.
[[noreturn]] void ExitNow(int code) {
  drivers::exec::KillRunningCommands();
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}

[[noreturn]] void RunCheck(const sidecar::Config& config, const Flags& flags) {
  auto report = sidecar::RunOneShot(config, CreateDrivers(config));
  if (flags.output == "json") {
    std::cout << sidecar::OneShotJson(report).dump(
                     2, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
              << "\n";
  } else {
    std::cout << sidecar::FormatOneShotText(report);
  }
  // Abandoned attempts may still run, and the HTTP client's thread pool
  // is never torn down cleanly: leave without running static destructors.
  ExitNow(report.snapshot->Ready() ? kExitOk : kExitNotReady);
}

int RunValidate(const sidecar::Config& config) {
  std::cout << "# configuration is valid: " << config.backends.size()
            << (config.backends.size() == 1 ? " backend" : " backends") << "\n"
            << sidecar::DescribeConfig(config);
  return kExitOk;
}

// Waits for SIGTERM or SIGINT until `timeout` (forever when null), reaping
// children whenever one exits. Returns the signal, or 0 at the timeout.
int WaitForStopSignal(const sigset_t& signals, sidecar::ChildReaper& reaper,
                      const timespec* timeout) {
  const auto until =
      timeout == nullptr
          ? std::chrono::steady_clock::time_point::max()
          : std::chrono::steady_clock::now() +
                std::chrono::seconds(timeout->tv_sec) +
                std::chrono::nanoseconds(timeout->tv_nsec);
  while (true) {
    int sig = 0;
    if (timeout == nullptr) {
      if (sigwait(&signals, &sig) != 0) continue;
    } else {
      auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return 0;
      timespec wait{static_cast<time_t>(left.count() / 1'000'000'000),
                    static_cast<long>(left.count() % 1'000'000'000)};
      sig = sigtimedwait(&signals, nullptr, &wait);
      if (sig < 0) continue;
    }
    if (sig == SIGTERM || sig == SIGINT) return sig;
    reaper.Reap(0);
  }
}

int Serve(const sidecar::Config& config, sidecar::Logger& logger,
          const std::vector<std::string>& worker) {
  // Signals are taken on this thread only; every thread started below
  // inherits the mask. SIGCHLD is among them so that exits of children
  // (and, as PID 1, of orphans) wake it to reap them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  const bool run_worker = !worker.empty();
  // Orphans of the worker's tree come to us even when we are not PID 1, so
  // none is left a zombie or escapes the stop.
  if (run_worker && !sidecar::ChildReaper::BecomeSubreaper()) {
    logger.Log(sidecar::LogLevel::kWarn, "cannot become a child subreaper",
               {{"error", std::strerror(errno)}});
  }

  probes::MetricsRecorder metrics(config, sidecar::kVersion,
                                  sidecar::kRevision);
  if (run_worker) metrics.EnableWorker();
  sidecar::JsonLogSink log_sink(logger);
  std::vector<sidecar::EventSink*> sinks = {&metrics, &log_sink};
  std::unique_ptr<sidecar::StateFileSink> state_file;
  if (!config.state_file.empty()) {
    state_file = std::make_unique<sidecar::StateFileSink>(config.state_file, logger);
    sinks.push_back(state_file.get());
  }
  sidecar::SnapshotHolder snapshots(sidecar::Supervisor::InitialSnapshot(config));
  sidecar::SystemClock clock;
  sidecar::Supervisor supervisor(config, CreateDrivers(config), clock, sinks,
                                 snapshots, std::random_device{}());
  probes::Handler handler({
      .snapshot = &snapshots,
      .live = [&] { return supervisor.Alive(kWatchdogStall); },
      .metrics = [&] { return metrics.Render(); },
  });
  probes::ServerOptions options;
  options.host = config.server.host;
  options.port = config.server.port;
  probes::Server server(options, handler);
  std::uint16_t port = 0;
  try {
    port = server.Start();
  } catch (const std::exception& e) {
    logger.Log(sidecar::LogLevel::kError, "cannot serve probes",
               {{"error", e.what()}});
    return kExitNotReady;
  }
  supervisor.Start();
  std::thread server_thread([&] { server.Run(); });
  nlohmann::ordered_json listening = {{"event", "start"},
                                      {"host", config.server.host},
                                      {"port", port},
                                      {"backends", config.backends.size()},
                                      {"version", sidecar::kVersion}};
  if (run_worker) listening["worker"] = worker.front();
  logger.Log(sidecar::LogLevel::kInfo, "listening", std::move(listening));

  if (run_worker) {
    sidecar::WorkerRunner runner(config.worker, worker, clock, snapshots,
                                 {&metrics, &log_sink}, logger);
    const int code = runner.Run(signals, [&](int) { supervisor.BeginShutdown(); });
    server.Stop();
    server_thread.join();
    supervisor.Stop();
    logger.Log(sidecar::LogLevel::kInfo, "stopped",
               {{"event", "stop"}, {"exit_code", code}});
    ExitNow(code);
  }

  sidecar::ChildReaper reaper;
  int sig = WaitForStopSignal(signals, reaper, nullptr);
  logger.Log(sidecar::LogLevel::kInfo, "signal received, draining",
             {{"signal", strsignal(sig)},
              {"drain_delay", drivers::FormatDuration(config.server.drain_delay)}});
  supervisor.BeginShutdown();
  // A second signal cuts the drain short.
  auto drain = std::chrono::duration_cast<std::chrono::nanoseconds>(
      config.server.drain_delay);
  timespec wait{static_cast<time_t>(drain.count() / 1'000'000'000),
                static_cast<long>(drain.count() % 1'000'000'000)};
  WaitForStopSignal(signals, reaper, &wait);
  server.Stop();
  server_thread.join();
  supervisor.Stop();
  logger.Log(sidecar::LogLevel::kInfo, "stopped", {{"event", "stop"}});
  // Workers stuck in storage I/O and the HTTP client's thread pool cannot be
  // joined; the state that matters is flushed.
  ExitNow(kExitOk);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "backup-gate: initializes backup storage backends, keeps checking them, "
      "and serves /livez, /readyz and /metrics for Kubernetes."};
  app.name("backup-gate");
  Flags flags;
  app.fallthrough();
  app.add_option("-c,--config", flags.config_path,
                 "Config file (YAML). Without it: one posix backend on "
                 "./backup-gate-data, served on 127.0.0.1:8080");
  app.add_option("--address", flags.address,
                 "Serve probes on HOST:PORT (overrides server.address)");
  app.add_option("--log-level", flags.log_level, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  app.set_version_flag("--version", std::string("backup-gate ") +
                                        sidecar::kVersion + " (" +
                                        sidecar::kRevision + ")");
  auto* check = app.add_subcommand(
      "check",
      "Run setup and check of every backend once, in parallel; exit 0 when "
      "ready by the readiness policy, 1 when not");
  check->add_option("-o,--output", flags.output, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  auto* validate = app.add_subcommand(
      "validate", "Check the config only and print the effective config");
  auto* run = app.add_subcommand(
      "run",
      "Serve as usual and run WORKER as a child, started only while storage "
      "is ready and stopped when it stays down for worker.stop_after: "
      "backup-gate run [--config FILE] -- WORKER [ARGS...]");
  run->add_option("worker", flags.worker,
                  "The worker's command and arguments, after --");
  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  if (run->parsed() && flags.worker.empty()) {
    std::fprintf(stderr,
                 "backup-gate run: no worker command (usage: backup-gate run "
                 "[--config FILE] -- WORKER [ARGS...])\n");
    return kExitUsage;
  }
  const auto registry = drivers::BuiltinDrivers();
  auto config = LoadConfig(flags, registry);
  if (!config) return kExitUsage;
  if (validate->parsed()) return RunValidate(*config);
  if (check->parsed()) RunCheck(*config, flags);
  sidecar::Logger logger(stderr, *sidecar::ParseLogLevel(flags.log_level));
  return Serve(*config, logger, flags.worker);
}
