#include "bgate/sidecar/one_shot_check.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

namespace bgate::sidecar {

using drivers::Outcome;
using drivers::Reason;

namespace {

struct Pending {
  std::mutex mutex;
  std::condition_variable done_cv;
  std::vector<std::optional<AttemptResult>> results;
};

std::string Seconds(std::chrono::nanoseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs",
                std::chrono::duration<double>(d).count());
  return buf;
}

}  // namespace

OneShotReport RunOneShot(const Config& config,
                         const std::vector<Supervisor::Backend>& backends) {
  auto pending = std::make_shared<Pending>();
  pending->results.resize(backends.size());
  const auto start = std::chrono::steady_clock::now();
  std::vector<drivers::SteadyTime> deadlines;
  for (std::size_t i = 0; i < backends.size(); ++i) {
    auto deadline = start + backends[i].config.check.timeout;
    deadlines.push_back(deadline);
    const auto timeout = backends[i].config.check.timeout;
    std::thread([pending, i, driver = backends[i].driver, deadline, timeout] {
      AttemptResult r = RunAttempt(
          *driver, true,
          drivers::Deadline(deadline - DriverDeadlineMargin(timeout)));
      std::lock_guard lock(pending->mutex);
      pending->results[i] = std::move(r);
      pending->done_cv.notify_all();
    }).detach();
  }
  OneShotReport report;
  auto snapshot = Supervisor::InitialSnapshot(config);
  auto mutable_snapshot = std::make_shared<Snapshot>(*snapshot);
  std::unique_lock lock(pending->mutex);
  for (std::size_t i = 0; i < backends.size(); ++i) {
    pending->done_cv.wait_until(lock, deadlines[i],
                                [&] { return pending->results[i].has_value(); });
    OneShotResult r;
    r.name = backends[i].config.name;
    r.driver = backends[i].config.driver;
    if (pending->results[i]) {
      r.outcome = pending->results[i]->outcome;
      r.duration = pending->results[i]->duration;
    } else {
      report.abandoned = true;
      r.outcome = Outcome::Failure(
          Reason::kTimeout,
          "no answer within " +
              drivers::FormatDuration(backends[i].config.check.timeout));
      r.duration = backends[i].config.check.timeout;
    }
    auto& status = mutable_snapshot->backends[i];
    status.state = r.outcome.ok ? BackendState::kReady : BackendState::kFailed;
    if (!r.outcome.ok) status.reason = r.outcome.reason;
    status.detail = r.outcome.detail;
    status.free_bytes = r.outcome.free_bytes;
    status.attempts = 1;
    report.results.push_back(std::move(r));
  }
  report.snapshot = std::move(mutable_snapshot);
  return report;
}

std::string FormatOneShotText(const OneShotReport& report) {
  std::vector<std::array<std::string, 6>> rows;
  rows.push_back({"NAME", "DRIVER", "RESULT", "REASON", "DURATION", "DETAIL"});
  for (const auto& r : report.results) {
    rows.push_back({r.name, r.driver, r.outcome.ok ? "ready" : "failed",
                    r.outcome.ok ? "-" : std::string(ReasonName(r.outcome.reason)),
                    Seconds(r.duration), r.outcome.detail});
  }
  std::array<std::size_t, 6> width{};
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

nlohmann::ordered_json OneShotJson(const OneShotReport& report) {
  nlohmann::ordered_json out;
  out["ready"] = report.snapshot->Ready();
  out["backends"] = nlohmann::ordered_json::array();
  for (const auto& r : report.results) {
    out["backends"].push_back({
        {"name", r.name},
        {"driver", r.driver},
        {"result", r.outcome.ok ? "ready" : "failed"},
        {"reason", r.outcome.ok ? nlohmann::ordered_json(nullptr)
                                : nlohmann::ordered_json(ReasonName(r.outcome.reason))},
        {"duration_seconds", std::chrono::duration<double>(r.duration).count()},
        {"detail", r.outcome.detail},
    });
  }
  return out;
}

}  // namespace bgate::sidecar
