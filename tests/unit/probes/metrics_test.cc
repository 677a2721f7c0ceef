#include "bgate/probes/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace bgate::probes {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using sidecar::BackendState;
using sidecar::Event;
using sidecar::EventType;

sidecar::Config TwoBackends() {
  sidecar::Config config;
  for (const char* name : {"primary", "offsite"}) {
    sidecar::BackendConfig b;
    b.name = name;
    b.driver = "posix";
    b.check.timeout = std::chrono::milliseconds(2500);
    config.backends.push_back(b);
  }
  return config;
}

sidecar::Snapshot Snap(BackendState primary, bool hung = false) {
  sidecar::Snapshot s;
  for (const char* name : {"primary", "offsite"}) {
    sidecar::BackendStatus b;
    b.name = name;
    b.driver = "posix";
    b.state = std::string(name) == "primary" ? primary : BackendState::kReady;
    b.hung = hung && b.state == primary;
    s.backends.push_back(b);
  }
  s.backends[0].free_bytes = 1234;
  s.backends[0].consecutive_failures = primary == BackendState::kFailed ? 2 : 0;
  s.backends[0].last_transition = sidecar::WallTime(std::chrono::seconds(1700000000));
  return s;
}

Event Ev(EventType type, bool ok = true) {
  Event e;
  e.type = type;
  e.backend = "primary";
  e.driver = "posix";
  e.ok = ok;
  if (!ok) e.reason = drivers::Reason::kTimeout;
  e.duration = std::chrono::milliseconds(30);
  return e;
}

TEST(MetricsTest, EverySeriesExistsFromTheStart) {
  MetricsRecorder m(TwoBackends(), "1.2.3", "abc");
  auto text = m.Render();
  for (const char* result : {"success", "timeout", "unreachable", "auth", "not_found",
                             "permission", "no_space", "misconfigured", "error"}) {
    EXPECT_THAT(text, HasSubstr(std::string("backup_gate_backend_checks_total{backend=\"offsite\","
                                            "driver=\"posix\",result=\"") +
                                result + "\"} 0"));
  }
  EXPECT_THAT(text, HasSubstr("backup_gate_backend_state{backend=\"primary\",driver=\"posix\","
                              "state=\"pending\"} 1"));
  EXPECT_THAT(text, HasSubstr("backup_gate_backend_transitions_total{backend=\"primary\","
                              "driver=\"posix\",from=\"ready\",to=\"failed\"} 0"));
  EXPECT_THAT(text, HasSubstr("backup_gate_backend_check_timeout_seconds{backend=\"primary\","
                              "driver=\"posix\"} 2.5"));
  EXPECT_THAT(text, HasSubstr("backup_gate_build_info{revision=\"abc\",version=\"1.2.3\"} 1"));
  EXPECT_THAT(text, HasSubstr("backup_gate_ready 0"));
  EXPECT_THAT(text, HasSubstr("process_resident_memory_bytes "));
  EXPECT_THAT(text, HasSubstr("process_open_fds "));
  // Free bytes appear once a driver has reported them, never as a fake 0.
  EXPECT_THAT(text, Not(HasSubstr("backup_gate_backend_free_bytes{")));
}

TEST(MetricsTest, EventsMoveCountersAndGauges) {
  MetricsRecorder m(TwoBackends(), "1", "r");
  m.OnEvent(Ev(EventType::kAttempt, false), Snap(BackendState::kFailed));
  Event t = Ev(EventType::kTransition);
  t.from = BackendState::kReady;
  t.to = BackendState::kFailed;
  m.OnEvent(t, Snap(BackendState::kFailed));
  auto text = m.Render();
  EXPECT_THAT(text, HasSubstr("backup_gate_backend_checks_total{backend=\"primary\",driver=\"posix\","
                              "result=\"timeout\"} 1"));
  EXPECT_THAT(text, HasSubstr("backup_gate_backend_transitions_total{backend=\"primary\","
                              "driver=\"posix\",from=\"ready\",to=\"failed\"} 1"));
  EXPECT_THAT(text, HasSubstr("backup_gate_backend_up{backend=\"primary\",driver=\"posix\"} 0"));
  EXPECT_THAT(text, HasSubstr("backup_gate_backend_up{backend=\"offsite\",driver=\"posix\"} 1"));
  EXPECT_THAT(text, HasSubstr("backup_gate_backend_consecutive_failures{backend=\"primary\","
                              "driver=\"posix\"} 2"));
  EXPECT_THAT(text, HasSubstr("backup_gate_backend_last_transition_timestamp_seconds{backend=\""
                              "primary\",driver=\"posix\"} 1700000000"));
  EXPECT_THAT(text, HasSubstr("backup_gate_backend_free_bytes{backend=\"primary\",driver=\"posix\"} 1234"));
  EXPECT_THAT(text, HasSubstr("backup_gate_backend_check_duration_seconds_count{backend=\"primary\","
                              "driver=\"posix\"} 1"));
  EXPECT_THAT(text, HasSubstr("backup_gate_ready 0"));
}

TEST(MetricsTest, HungGaugeDropsWhenTheLateResultArrives) {
  MetricsRecorder m(TwoBackends(), "1", "r");
  m.OnEvent(Ev(EventType::kAttempt, false), Snap(BackendState::kFailed, /*hung=*/true));
  EXPECT_THAT(m.Render(), HasSubstr("backup_gate_backend_attempt_hung{backend=\"primary\","
                                    "driver=\"posix\"} 1"));
  m.OnEvent(Ev(EventType::kLateResult), Snap(BackendState::kFailed, /*hung=*/false));
  auto text = m.Render();
  EXPECT_THAT(text, HasSubstr("backup_gate_backend_attempt_hung{backend=\"primary\","
                              "driver=\"posix\"} 0"));
  EXPECT_THAT(text, HasSubstr("backup_gate_backend_checks_total{backend=\"primary\",driver=\"posix\","
                              "result=\"success\"} 0"))
      << "a discarded late result is not counted";
}

TEST(MetricsTest, CachedTextIsRenewedOnChangeAndByAge) {
  MetricsRecorder m(TwoBackends(), "1", "r");
  auto first = m.Render(std::chrono::hours(1));
  EXPECT_EQ(m.Render(std::chrono::hours(1)), first) << "served from the cache";
  m.OnEvent(Ev(EventType::kAttempt), Snap(BackendState::kReady));
  EXPECT_NE(m.Render(std::chrono::hours(1)), first) << "a change renders again";
  auto second = m.Render(std::chrono::hours(1));
  // Spend CPU so the process metrics move, then let the cache age out.
  volatile double x = 0;
  for (int i = 0; i < 30'000'000; ++i) x = x + i;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_NE(m.Render(std::chrono::milliseconds(10)), second);
}

TEST(MetricsTest, WorkerSeriesOnlyInRunModeAndFromTheStart) {
  MetricsRecorder m(TwoBackends(), "1", "r");
  EXPECT_THAT(m.Render(), Not(HasSubstr("backup_gate_worker_")));
  m.EnableWorker();
  auto text = m.Render();
  EXPECT_THAT(text, HasSubstr("backup_gate_worker_up 0"));
  EXPECT_THAT(text, HasSubstr("backup_gate_worker_starts_total 0"));
  for (const char* reason : {"storage", "exited", "signal"}) {
    EXPECT_THAT(text, HasSubstr(std::string("backup_gate_worker_stops_total{reason=\"") +
                                reason + "\"} 0"));
  }
  EXPECT_THAT(text, HasSubstr("backup_gate_worker_last_exit_code 0"));

  sidecar::WorkerEvent started;
  started.type = sidecar::WorkerEvent::Type::kStarted;
  started.pid = 42;
  m.OnWorkerEvent(started);
  text = m.Render();
  EXPECT_THAT(text, HasSubstr("backup_gate_worker_up 1"));
  EXPECT_THAT(text, HasSubstr("backup_gate_worker_starts_total 1"));

  sidecar::WorkerEvent stopped;
  stopped.type = sidecar::WorkerEvent::Type::kStopped;
  stopped.reason = sidecar::StopReason::kStorage;
  stopped.exit = {true, 15};
  m.OnWorkerEvent(stopped);
  text = m.Render();
  EXPECT_THAT(text, HasSubstr("backup_gate_worker_up 0"));
  EXPECT_THAT(text, HasSubstr("backup_gate_worker_stops_total{reason=\"storage\"} 1"));
  EXPECT_THAT(text, HasSubstr("backup_gate_worker_last_exit_code 143"));
}

}  // namespace
}  // namespace bgate::probes
