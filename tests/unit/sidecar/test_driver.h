#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>

#include "bgate/drivers/driver.h"

namespace bgate::sidecar::testing {

// A driver whose answers the test scripts, and which can be told to hang
// until released. Thread-safe.
class ScriptedDriver final : public drivers::Driver {
 public:
  drivers::Outcome Setup(const drivers::Deadline&) override {
    ++setups;
    return drivers::Outcome::Success();
  }
  drivers::Outcome Check(const drivers::Deadline&) override {
    std::unique_lock lock(mutex_);
    ++checks;
    cv_.wait(lock, [&] { return !hang_; });
    if (script_.empty()) return next_;
    auto o = script_.front();
    script_.pop_front();
    return o;
  }
  // Every later check answers `o`.
  void AnswerAlways(drivers::Outcome o) {
    std::lock_guard lock(mutex_);
    next_ = std::move(o);
  }
  void Hang(bool hang) {
    std::lock_guard lock(mutex_);
    hang_ = hang;
    cv_.notify_all();
  }

  std::atomic<int> setups{0};
  std::atomic<int> checks{0};

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool hang_ = false;
  std::deque<drivers::Outcome> script_;
  drivers::Outcome next_ = drivers::Outcome::Success();
};

}  // namespace bgate::sidecar::testing
