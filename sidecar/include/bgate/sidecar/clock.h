#pragma once

#include <chrono>

#include "bgate/drivers/driver.h"
#include "bgate/sidecar/snapshot.h"

namespace bgate::sidecar {

using drivers::SteadyTime;

// Where the supervisor reads time from: steady time for schedules, wall
// time for timestamps. Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime Now() const = 0;
  virtual WallTime WallNow() const = 0;
};

// The real clocks. Thread-safe.
class SystemClock final : public Clock {
 public:
  SteadyTime Now() const override { return std::chrono::steady_clock::now(); }
  WallTime WallNow() const override { return std::chrono::system_clock::now(); }
};

}  // namespace bgate::sidecar
