#include "bgate/probes/handler.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bgate/drivers/driver.h"
#include "bgate/sidecar/snapshot.h"

namespace bgate::probes {
namespace {

using drivers::Reason;
using sidecar::BackendState;
using sidecar::BackendStatus;
using sidecar::ReadinessPolicy;
using sidecar::Snapshot;

BackendStatus Backend(std::string name, BackendState state,
                      std::optional<Reason> reason = std::nullopt,
                      std::string detail = {}) {
  BackendStatus backend;
  backend.name = std::move(name);
  backend.driver = "posix";
  backend.state = state;
  backend.reason = reason;
  backend.detail = std::move(detail);
  return backend;
}

BackendStatus Ready(std::string name) {
  return Backend(std::move(name), BackendState::kReady);
}

BackendStatus Failed(std::string name, Reason reason, std::string detail) {
  return Backend(std::move(name), BackendState::kFailed, reason,
                 std::move(detail));
}

std::string_view HeaderValue(const Response& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return {};
}

class HandlerTest : public ::testing::Test {
 protected:
  void SetSnapshot(std::vector<BackendStatus> backends,
                   ReadinessPolicy policy = ReadinessPolicy::kAll,
                   std::vector<std::string> required = {},
                   bool shutting_down = false) {
    auto snapshot = std::make_shared<Snapshot>();
    snapshot->generation = ++generation_;
    snapshot->backends = std::move(backends);
    snapshot->policy = policy;
    snapshot->required = std::move(required);
    snapshot->shutting_down = shutting_down;
    holder_.Store(std::move(snapshot));
  }

  Response Get(std::string_view target) const {
    return handler_.Handle("GET", target);
  }

  sidecar::SnapshotHolder holder_{std::make_shared<Snapshot>()};
  bool live_ = true;
  std::string metrics_ = "# TYPE backup_gate_up gauge\nbackup_gate_up 1\n";
  std::uint64_t generation_ = 0;
  Handler handler_{HandlerSources{
      &holder_, [this] { return live_; }, [this] { return metrics_; }}};
};

// --- /livez ------------------------------------------------------------------

TEST_F(HandlerTest, LivezOkWhileLive) {
  const Response response = Get("/livez");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "ok\n");
  EXPECT_EQ(response.content_type, "text/plain; charset=utf-8");
}

TEST_F(HandlerTest, LivezVerbose) {
  const Response response = Get("/livez?verbose");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "[+]supervisor ok\nlivez check passed\n");
}

TEST_F(HandlerTest, LivezFailsWhenLoopStalled) {
  live_ = false;
  for (std::string_view target : {"/livez", "/livez?verbose"}) {
    const Response response = Get(target);
    EXPECT_EQ(response.status, 500) << target;
    EXPECT_EQ(response.body,
              "[-]supervisor failed: loop stalled\nlivez check failed\n")
        << target;
  }
}

TEST_F(HandlerTest, LivezIgnoresStorageState) {
  SetSnapshot({Failed("nfs", Reason::kTimeout, "")});
  EXPECT_EQ(Get("/livez").status, 200);
}

// --- /readyz -----------------------------------------------------------------

TEST_F(HandlerTest, ReadyzOkWhenAllReady) {
  SetSnapshot({Ready("nfs"), Ready("s3")});
  const Response response = Get("/readyz");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "ok\n");
}

TEST_F(HandlerTest, ReadyzVerboseListsEveryBackend) {
  SetSnapshot({Ready("nfs"), Ready("s3")});
  const Response response = Get("/readyz?verbose");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "[+]nfs ok\n[+]s3 ok\nreadyz check passed\n");
}

TEST_F(HandlerTest, VerboseWithAValueIsStillVerbose) {
  SetSnapshot({Ready("nfs")});
  EXPECT_EQ(Get("/readyz?verbose=1").body, "[+]nfs ok\nreadyz check passed\n");
  EXPECT_EQ(Get("/readyz?verbose=").body, "[+]nfs ok\nreadyz check passed\n");
}

TEST_F(HandlerTest, ReadyzFailureAlwaysPrintsTheList) {
  SetSnapshot(
      {Ready("nfs"), Failed("s3", Reason::kTimeout, "no answer in 5s")});
  for (std::string_view target : {"/readyz", "/readyz?verbose"}) {
    const Response response = Get(target);
    EXPECT_EQ(response.status, 503) << target;
    EXPECT_EQ(response.body,
              "[+]nfs ok\n"
              "[-]s3 failed: timeout (no answer in 5s)\n"
              "readyz check failed\n")
        << target;
  }
}

TEST_F(HandlerTest, FailureWithoutDetailHasNoParentheses) {
  SetSnapshot({Failed("s3", Reason::kAuth, "")});
  EXPECT_EQ(Get("/readyz").body, "[-]s3 failed: auth\nreadyz check failed\n");
}

TEST_F(HandlerTest, EveryReasonUsesItsStableName) {
  for (Reason reason : drivers::kAllReasons) {
    SetSnapshot({Failed("s3", reason, "")});
    EXPECT_EQ(Get("/readyz").body,
              "[-]s3 failed: " + std::string(drivers::ReasonName(reason)) +
                  "\nreadyz check failed\n");
  }
}

TEST_F(HandlerTest, PendingWithoutReasonIsInitializing) {
  SetSnapshot({Backend("nfs", BackendState::kPending),
               Backend("s3", BackendState::kInitializing)});
  const Response response = Get("/readyz");
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.body,
            "[-]nfs failed: initializing\n"
            "[-]s3 failed: initializing\n"
            "readyz check failed\n");
}

TEST_F(HandlerTest, InitializingWithReasonShowsTheReason) {
  SetSnapshot({Backend("s3", BackendState::kInitializing, Reason::kUnreachable,
                       "connection refused")});
  EXPECT_EQ(Get("/readyz").body,
            "[-]s3 failed: unreachable (connection refused)\n"
            "readyz check failed\n");
}

TEST_F(HandlerTest, ReadyBackendWithAFailureBelowThresholdIsOk) {
  BackendStatus nfs = Ready("nfs");
  nfs.reason = Reason::kTimeout;
  nfs.detail = "one slow attempt";
  nfs.consecutive_failures = 1;
  SetSnapshot({nfs});
  EXPECT_EQ(Get("/readyz?verbose").body, "[+]nfs ok\nreadyz check passed\n");
}

TEST_F(HandlerTest, PolicyAnyReadyWithOneReady) {
  SetSnapshot({Ready("nfs"), Failed("s3", Reason::kUnreachable, "refused")},
              ReadinessPolicy::kAny);
  EXPECT_EQ(Get("/readyz").status, 200);
  EXPECT_EQ(Get("/readyz").body, "ok\n");
  // The failing backend still shows as failing.
  EXPECT_EQ(Get("/readyz?verbose").body,
            "[+]nfs ok\n"
            "[-]s3 failed: unreachable (refused)\n"
            "readyz check passed\n");
}

TEST_F(HandlerTest, PolicyAnyNotReadyWhenNoneReady) {
  SetSnapshot({Failed("nfs", Reason::kNoSpace, ""),
               Failed("s3", Reason::kUnreachable, "")},
              ReadinessPolicy::kAny);
  EXPECT_EQ(Get("/readyz").status, 503);
}

TEST_F(HandlerTest, RequiredBackendMustBeReadyUnderPolicyAny) {
  SetSnapshot({Failed("nfs", Reason::kPermission, "read-only"), Ready("s3")},
              ReadinessPolicy::kAny, {"nfs"});
  const Response response = Get("/readyz");
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.body,
            "[-]nfs failed: permission (read-only)\n"
            "[+]s3 ok\n"
            "readyz check failed\n");
}

TEST_F(HandlerTest, PolicyAllNotReadyWithOneFailed) {
  SetSnapshot({Ready("nfs"), Failed("s3", Reason::kError, "")},
              ReadinessPolicy::kAll);
  EXPECT_EQ(Get("/readyz").status, 503);
}

TEST_F(HandlerTest, ExcludedBackendDoesNotCount) {
  SetSnapshot({Ready("nfs"), Failed("s3", Reason::kTimeout, "slow")});
  EXPECT_EQ(Get("/readyz?exclude=s3").status, 200);
  EXPECT_EQ(Get("/readyz?exclude=s3").body, "ok\n");
  EXPECT_EQ(Get("/readyz?exclude=s3&verbose").body,
            "[+]nfs ok\n[+]s3 excluded: ok\nreadyz check passed\n");
}

TEST_F(HandlerTest, ExcludeIsRepeatable) {
  SetSnapshot({Failed("nfs", Reason::kTimeout, ""), Ready("s3"),
               Failed("swift", Reason::kAuth, "")});
  EXPECT_EQ(Get("/readyz?exclude=nfs").status, 503);
  const Response response = Get("/readyz?exclude=nfs&exclude=swift&verbose");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body,
            "[+]nfs excluded: ok\n"
            "[+]s3 ok\n"
            "[+]swift excluded: ok\n"
            "readyz check passed\n");
}

TEST_F(HandlerTest, ExcludeIsPercentDecoded) {
  SetSnapshot({Ready("nfs"), Failed("s3-eu", Reason::kTimeout, "")});
  EXPECT_EQ(Get("/readyz?exclude=s3%2Deu").status, 200);
  EXPECT_EQ(Get("/readyz?%65xclude=s3%2deu").status, 200);
}

TEST_F(HandlerTest, EmptyExcludeIsIgnored) {
  SetSnapshot({Ready("nfs")});
  EXPECT_EQ(Get("/readyz?exclude=&verbose").body,
            "[+]nfs ok\nreadyz check passed\n");
}

TEST_F(HandlerTest, UnknownExcludeWarnsInVerboseOutput) {
  SetSnapshot({Ready("nfs")});
  EXPECT_EQ(Get("/readyz?exclude=nope").body, "ok\n");
  EXPECT_EQ(Get("/readyz?exclude=nope&verbose").body,
            "[+]nfs ok\n"
            "warn: some health checks cannot be excluded: no matches for "
            "\"nope\"\n"
            "readyz check passed\n");
}

TEST_F(HandlerTest, UnknownExcludesAreListedSortedOnFailure) {
  SetSnapshot({Failed("nfs", Reason::kTimeout, "")});
  const Response response = Get("/readyz?exclude=zeta&exclude=alpha");
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.body,
            "[-]nfs failed: timeout\n"
            "warn: some health checks cannot be excluded: no matches for "
            "\"alpha\",\"zeta\"\n"
            "readyz check failed\n");
}

TEST_F(HandlerTest, ShuttingDownIsNotReady) {
  SetSnapshot({Ready("nfs")}, ReadinessPolicy::kAll, {},
              /*shutting_down=*/true);
  const Response response = Get("/readyz");
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.body,
            "[+]nfs ok\n[-]shutdown failed: draining\nreadyz check failed\n");
}

TEST_F(HandlerTest, ShutdownLineComesBeforeWarning) {
  SetSnapshot({Ready("nfs")}, ReadinessPolicy::kAll, {}, true);
  EXPECT_EQ(Get("/readyz?exclude=x").body,
            "[+]nfs ok\n"
            "[-]shutdown failed: draining\n"
            "warn: some health checks cannot be excluded: no matches for "
            "\"x\"\n"
            "readyz check failed\n");
}

TEST_F(HandlerTest, NoBackendsIsReady) {
  SetSnapshot({});
  EXPECT_EQ(Get("/readyz").status, 200);
  EXPECT_EQ(Get("/readyz?verbose").body, "readyz check passed\n");
}

TEST_F(HandlerTest, UnknownQueryParametersAreIgnored) {
  SetSnapshot({Ready("nfs")});
  EXPECT_EQ(Get("/readyz?timeout=32s&foo").body, "ok\n");
}

TEST_F(HandlerTest, MalformedEscapeIsBadRequest) {
  SetSnapshot({Ready("nfs")});
  EXPECT_EQ(Get("/readyz?exclude=%zz").status, 400);
}

TEST_F(HandlerTest, MissingSnapshotHolderIsNotReady) {
  const Handler handler(HandlerSources{});
  EXPECT_EQ(handler.Handle("GET", "/readyz").status, 503);
  EXPECT_EQ(handler.Handle("GET", "/readyz/nfs").status, 503);
  EXPECT_EQ(handler.Handle("GET", "/livez").status, 200);
  EXPECT_EQ(handler.Handle("GET", "/metrics").status, 200);
}

TEST_F(HandlerTest, FollowsTheLatestSnapshot) {
  SetSnapshot({Failed("nfs", Reason::kTimeout, "")});
  EXPECT_EQ(Get("/readyz").status, 503);
  SetSnapshot({Ready("nfs")});
  EXPECT_EQ(Get("/readyz").status, 200);
}

// --- /readyz/NAME ------------------------------------------------------------

TEST_F(HandlerTest, SingleBackendReady) {
  SetSnapshot({Ready("nfs"), Failed("s3", Reason::kTimeout, "slow")});
  const Response response = Get("/readyz/nfs");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "ok\n");
}

TEST_F(HandlerTest, SingleBackendFailed) {
  SetSnapshot({Ready("nfs"), Failed("s3", Reason::kTimeout, "slow")});
  const Response response = Get("/readyz/s3");
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.body, "[-]s3 failed: timeout (slow)\n");
}

TEST_F(HandlerTest, SingleBackendInitializing) {
  SetSnapshot({Backend("s3", BackendState::kPending)});
  EXPECT_EQ(Get("/readyz/s3").body, "[-]s3 failed: initializing\n");
}

TEST_F(HandlerTest, SingleBackendIgnoresThePolicy) {
  SetSnapshot({Ready("nfs"), Failed("s3", Reason::kTimeout, "")},
              ReadinessPolicy::kAny);
  EXPECT_EQ(Get("/readyz").status, 200);
  EXPECT_EQ(Get("/readyz/s3").status, 503);
}

TEST_F(HandlerTest, SingleBackendUnknownIsNotFound) {
  SetSnapshot({Ready("nfs")});
  EXPECT_EQ(Get("/readyz/nope").status, 404);
  EXPECT_EQ(Get("/readyz/").status, 404);
  EXPECT_EQ(Get("/readyz/nfs/x").status, 404);
}

TEST_F(HandlerTest, SingleBackendWhileShuttingDown) {
  SetSnapshot({Ready("nfs")}, ReadinessPolicy::kAll, {}, true);
  const Response response = Get("/readyz/nfs");
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.body, "[+]nfs ok\n[-]shutdown failed: draining\n");
}

TEST_F(HandlerTest, SingleBackendNameIsPercentDecodedAndQueryIgnored) {
  SetSnapshot({Ready("s3-eu")});
  EXPECT_EQ(Get("/readyz/s3%2Deu").status, 200);
  EXPECT_EQ(Get("/readyz/s3-eu?verbose").status, 200);
  EXPECT_EQ(Get("/readyz/s3%2").status, 400);
}

// --- /metrics ----------------------------------------------------------------

TEST_F(HandlerTest, MetricsFromTheSource) {
  const Response response = Get("/metrics");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(response.body, metrics_);
  metrics_ = "changed 1\n";
  EXPECT_EQ(Get("/metrics?x=1").body, "changed 1\n");
}

// --- methods, paths, headers -------------------------------------------------

TEST_F(HandlerTest, HeadAnswersLikeGet) {
  SetSnapshot({Failed("nfs", Reason::kTimeout, "")});
  for (std::string_view target :
       {"/livez", "/readyz", "/readyz/nfs", "/metrics", "/nope"}) {
    const Response get = handler_.Handle("GET", target);
    const Response head = handler_.Handle("HEAD", target);
    EXPECT_EQ(head.status, get.status) << target;
    EXPECT_EQ(head.body, get.body) << target;
    EXPECT_EQ(head.content_type, get.content_type) << target;
    EXPECT_EQ(head.headers, get.headers) << target;
  }
}

TEST_F(HandlerTest, OtherMethodsAreNotAllowed) {
  SetSnapshot({Ready("nfs")});
  for (std::string_view method :
       {"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "get", "BREW"}) {
    for (std::string_view target :
         {"/livez", "/readyz", "/readyz/nfs", "/metrics"}) {
      const Response response = handler_.Handle(method, target);
      EXPECT_EQ(response.status, 405) << method << " " << target;
      EXPECT_EQ(HeaderValue(response, "Allow"), "GET, HEAD")
          << method << " " << target;
    }
  }
}

TEST_F(HandlerTest, UnknownPathsAreNotFound) {
  for (std::string_view target :
       {"/", "/livez/", "/readyzz", "/metrics/", "/healthz", "//livez",
        "/LIVEZ", "/livez%3Fverbose"}) {
    EXPECT_EQ(Get(target).status, 404) << target;
  }
  EXPECT_EQ(handler_.Handle("POST", "/nope").status, 404);
}

TEST_F(HandlerTest, TargetsNotStartingWithSlashAreBadRequests) {
  for (std::string_view target : {"", "*", "livez", "http://host/livez"}) {
    EXPECT_EQ(Get(target).status, 400) << target;
  }
}

TEST_F(HandlerTest, ProbeAnswersAreNotCached) {
  SetSnapshot({Failed("nfs", Reason::kTimeout, "")});
  for (std::string_view target :
       {"/livez", "/readyz", "/readyz/nfs", "/readyz/x", "/metrics", "/x"}) {
    EXPECT_EQ(HeaderValue(Get(target), "Cache-Control"), "no-store")
        << target;
  }
}

TEST_F(HandlerTest, SourceExceptionsPropagate) {
  const Handler handler(HandlerSources{
      &holder_, [] { return true; },
      []() -> std::string { throw std::runtime_error("registry gone"); }});
  EXPECT_THROW(handler.Handle("GET", "/metrics"), std::runtime_error);
}

}  // namespace
}  // namespace bgate::probes
