#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bgate/sidecar/config.h"
#include "bgate/sidecar/snapshot.h"
#include "bgate/sidecar/supervisor.h"

namespace bgate::sidecar {

struct OneShotResult {
  std::string name;
  std::string driver;
  drivers::Outcome outcome;
  std::chrono::nanoseconds duration{0};
};

struct OneShotReport {
  std::vector<OneShotResult> results;
  // The results as a snapshot, so readiness is judged by the same policy.
  std::shared_ptr<const Snapshot> snapshot;
  // Some attempt did not return by its deadline and still runs.
  bool abandoned = false;
};

// Runs setup and check of every backend once, all in parallel, each under
// its own timeout; thresholds do not apply. An attempt that does not return
// by its deadline is reported as `timeout` and left running on a detached
// thread (the caller should exit soon after).
OneShotReport RunOneShot(const Config& config,
                         const std::vector<Supervisor::Backend>& backends);

// One aligned line per backend: NAME DRIVER RESULT REASON DURATION DETAIL.
std::string FormatOneShotText(const OneShotReport& report);
nlohmann::ordered_json OneShotJson(const OneShotReport& report);

}  // namespace bgate::sidecar
