#include "bgate/probes/handler.h"

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "bgate/drivers/driver.h"
#include "request_target.h"

namespace bgate::probes {
namespace {

using Names = std::set<std::string, std::less<>>;

constexpr std::string_view kLivez = "/livez";
constexpr std::string_view kReadyz = "/readyz";
constexpr std::string_view kReadyzPrefix = "/readyz/";
constexpr std::string_view kMetrics = "/metrics";
constexpr std::string_view kMetricsContentType =
    "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kShutdownLine = "[-]shutdown failed: draining\n";

// Probe answers must never be served from a cache between kubelet (or a
// load balancer) and us.
Response Text(int status, std::string body) {
  Response response;
  response.status = status;
  response.body = std::move(body);
  response.headers.emplace_back("Cache-Control", "no-store");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return response;
}

struct Query {
  bool verbose = false;
  Names exclude;
};

Query ReadQuery(const detail::RequestTarget& target) {
  Query query;
  for (const auto& [key, value] : target.query) {
    if (key == "verbose") {
      query.verbose = true;
    } else if (key == "exclude" && !value.empty()) {
      query.exclude.insert(value);
    }
  }
  return query;
}

bool IsReady(const sidecar::BackendStatus& backend) {
  return backend.state == sidecar::BackendState::kReady;
}

// "[+]NAME ok" or "[-]NAME failed: REASON (DETAIL)".
void AppendCheckLine(const sidecar::BackendStatus& backend, std::string& out) {
  if (IsReady(backend)) {
    out.append("[+]").append(backend.name).append(" ok\n");
    return;
  }
  std::string_view reason = "initializing";
  if (backend.reason) {
    reason = drivers::ReasonName(*backend.reason);
  } else if (backend.state == sidecar::BackendState::kFailed) {
    reason = drivers::ReasonName(drivers::Reason::kError);
  }
  out.append("[-]").append(backend.name).append(" failed: ").append(reason);
  if (!backend.detail.empty()) {
    out.append(" (").append(backend.detail).append(")");
  }
  out += '\n';
}

// kube-apiserver's wording, so people and tools reading both find the same.
void AppendUnmatchedWarning(const sidecar::Snapshot& snapshot,
                            const Names& exclude, std::string& out) {
  std::string quoted;
  for (const std::string& name : exclude) {
    if (snapshot.Find(name) != nullptr) continue;
    if (!quoted.empty()) quoted += ',';
    quoted.append("\"").append(name).append("\"");
  }
  if (quoted.empty()) return;
  out.append("warn: some health checks cannot be excluded: no matches for ")
      .append(quoted)
      .append("\n");
}

Response Livez(const HandlerSources& sources, const Query& query) {
  const bool live = !sources.live || sources.live();
  if (!live) {
    return Text(500,
                "[-]supervisor failed: loop stalled\nlivez check failed\n");
  }
  if (query.verbose) return Text(200, "[+]supervisor ok\nlivez check passed\n");
  return Text(200, "ok\n");
}

std::shared_ptr<const sidecar::Snapshot> LoadSnapshot(
    const HandlerSources& sources) {
  if (sources.snapshot == nullptr) return nullptr;
  return sources.snapshot->Load();
}

Response Readyz(const HandlerSources& sources, const Query& query) {
  const auto snapshot = LoadSnapshot(sources);
  if (!snapshot) return Text(503, "readyz check failed\n");

  const bool ready = snapshot->Ready(query.exclude);
  if (ready && !query.verbose) return Text(200, "ok\n");

  std::string body;
  for (const sidecar::BackendStatus& backend : snapshot->backends) {
    if (query.exclude.contains(backend.name)) {
      body.append("[+]").append(backend.name).append(" excluded: ok\n");
    } else {
      AppendCheckLine(backend, body);
    }
  }
  if (snapshot->shutting_down) body += kShutdownLine;
  AppendUnmatchedWarning(*snapshot, query.exclude, body);
  body += ready ? "readyz check passed\n" : "readyz check failed\n";
  return Text(ready ? 200 : 503, std::move(body));
}

Response ReadyzBackend(const HandlerSources& sources, std::string_view name) {
  const auto snapshot = LoadSnapshot(sources);
  if (!snapshot) return Text(503, "readyz check failed\n");
  const sidecar::BackendStatus* backend = snapshot->Find(name);
  if (backend == nullptr) return Text(404, "not found\n");
  if (IsReady(*backend) && !snapshot->shutting_down) return Text(200, "ok\n");

  std::string body;
  AppendCheckLine(*backend, body);
  if (snapshot->shutting_down) body += kShutdownLine;
  return Text(503, std::move(body));
}

Response Metrics(const HandlerSources& sources) {
  Response response = Text(200, sources.metrics ? sources.metrics() : "");
  response.content_type = kMetricsContentType;
  return response;
}

}  // namespace

Response Handler::Handle(std::string_view method,
                         std::string_view target) const {
  const auto parsed = detail::ParseRequestTarget(target);
  if (!parsed) return Text(400, "bad request\n");

  const std::string_view path = parsed->path;
  std::optional<std::string> backend;
  if (path.starts_with(kReadyzPrefix) && path.size() > kReadyzPrefix.size()) {
    backend = detail::PercentDecode(path.substr(kReadyzPrefix.size()), false);
    if (!backend) return Text(400, "bad request\n");
  } else if (path != kLivez && path != kReadyz && path != kMetrics) {
    return Text(404, "not found\n");
  }

  if (method != "GET" && method != "HEAD") {
    Response response = Text(405, "method not allowed\n");
    response.headers.emplace_back("Allow", "GET, HEAD");
    return response;
  }

  if (backend) return ReadyzBackend(sources_, *backend);
  if (path == kMetrics) return Metrics(sources_);
  const Query query = ReadQuery(*parsed);
  if (path == kLivez) return Livez(sources_, query);
  return Readyz(sources_, query);
}

}  // namespace bgate::probes
