#include "bgate/sidecar/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <signal.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>

#include <yaml-cpp/yaml.h>

namespace bgate::sidecar {
namespace {

using drivers::ErrorList;
using drivers::FormatDuration;
using drivers::NodeReader;

constexpr std::string_view kDefaultConfig = R"(# The embedded default: one local directory, served on loopback.
server:
  address: "127.0.0.1:8080"
backends:
  - name: local
    driver: posix
    path: "@DATA_DIR@"
    write_probe: true
)";

constexpr std::int64_t kMaxThreshold = 1000;

// Sets `out` from a duration key that must be greater than zero.
void ReadPositiveDuration(NodeReader& reader, const std::string& key,
                          nanoseconds& out) {
  if (auto d = reader.Duration(key)) {
    if (d->count() <= 0) {
      reader.errors().Add(reader.Field(key), "must be greater than 0");
    } else {
      out = *d;
    }
  }
}

// Reads the schedule keys of a `check:` mapping on top of `base`.
CheckSettings ReadCheck(NodeReader& reader, CheckSettings base) {
  ReadPositiveDuration(reader, "interval", base.interval);
  ReadPositiveDuration(reader, "timeout", base.timeout);
  if (auto v = reader.Int("failure_threshold", 1, kMaxThreshold)) {
    base.failure_threshold = static_cast<int>(*v);
  }
  if (auto v = reader.Int("success_threshold", 1, kMaxThreshold)) {
    base.success_threshold = static_cast<int>(*v);
  }
  if (reader.Has("retry")) {
    NodeReader retry(reader.Child("retry"), reader.Field("retry"),
                     reader.errors());
    if (retry.IsMapping()) {
      ReadPositiveDuration(retry, "initial", base.retry_initial);
      ReadPositiveDuration(retry, "max", base.retry_max);
      retry.RejectUnknown();
    }
  } else {
    reader.Consume("retry");
  }
  if (auto v = reader.Bool("periodic_initialization")) {
    base.periodic_initialization = *v;
  }
  reader.RejectUnknown();
  if (base.retry_initial > base.retry_max) {
    reader.errors().Add(reader.Field("retry"),
                        "initial (" + FormatDuration(base.retry_initial) +
                            ") must not exceed max (" +
                            FormatDuration(base.retry_max) + ")");
  }
  return base;
}

void ReadServer(NodeReader& reader, ServerConfig& server) {
  if (auto address = reader.String("address", false)) {
    if (auto split = SplitHostPort(*address)) {
      server.address = *address;
      server.host = split->first;
      server.port = split->second;
    } else {
      reader.errors().Add(reader.Field("address"),
                          "\"" + *address +
                              "\" is not host:port (e.g. 0.0.0.0:8080, "
                              "[::]:8080)");
    }
  }
  if (auto d = reader.Duration("drain_delay")) server.drain_delay = *d;
  reader.RejectUnknown();
}

void ReadReadiness(NodeReader& reader, Config& config) {
  if (auto policy = reader.String("policy", false)) {
    if (*policy == "all") {
      config.policy = ReadinessPolicy::kAll;
    } else if (*policy == "any") {
      config.policy = ReadinessPolicy::kAny;
    } else {
      reader.errors().Add(reader.Field("policy"),
                          "\"" + *policy + "\" is not all or any");
    }
  }
  if (auto required = reader.StringList("required", false)) {
    config.required = *required;
  }
  reader.RejectUnknown();
}

// The signals a worker may be asked to stop with.
constexpr std::array<std::pair<std::string_view, int>, 6> kStopSignals = {{
    {"SIGTERM", SIGTERM},
    {"SIGINT", SIGINT},
    {"SIGQUIT", SIGQUIT},
    {"SIGHUP", SIGHUP},
    {"SIGUSR1", SIGUSR1},
    {"SIGUSR2", SIGUSR2},
}};

void ReadWorker(NodeReader& reader, WorkerConfig& worker) {
  ReadPositiveDuration(reader, "stop_after", worker.stop_after);
  if (auto name = reader.String("stop_signal", false)) {
    if (auto sig = ParseStopSignal(*name)) {
      worker.stop_signal = *sig;
    } else {
      reader.errors().Add(reader.Field("stop_signal"),
                          "\"" + *name +
                              "\" is not one of SIGTERM, SIGINT, SIGQUIT, "
                              "SIGHUP, SIGUSR1, SIGUSR2");
    }
  }
  ReadPositiveDuration(reader, "stop_timeout", worker.stop_timeout);
  if (auto restart = reader.String("restart", false)) {
    if (*restart == "always") {
      worker.restart = RestartPolicy::kAlways;
    } else if (*restart == "on-failure") {
      worker.restart = RestartPolicy::kOnFailure;
    } else if (*restart == "never") {
      worker.restart = RestartPolicy::kNever;
    } else {
      reader.errors().Add(reader.Field("restart"),
                          "\"" + *restart +
                              "\" is not always, on-failure or never");
    }
  }
  if (reader.Has("restart_backoff")) {
    NodeReader backoff(reader.Child("restart_backoff"),
                       reader.Field("restart_backoff"), reader.errors());
    if (backoff.IsMapping()) {
      ReadPositiveDuration(backoff, "initial", worker.restart_initial);
      ReadPositiveDuration(backoff, "max", worker.restart_max);
      backoff.RejectUnknown();
    }
  } else {
    reader.Consume("restart_backoff");
  }
  reader.RejectUnknown();
  if (worker.restart_initial > worker.restart_max) {
    reader.errors().Add(reader.Field("restart_backoff"),
                        "initial (" + FormatDuration(worker.restart_initial) +
                            ") must not exceed max (" +
                            FormatDuration(worker.restart_max) + ")");
  }
}

// [a-z0-9_-]{1,63}: safe as a metric label, a path segment and a file name.
bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

void ReadBackend(const YAML::Node& node, const std::string& path,
                 const drivers::DriverRegistry& registry, Config& config,
                 std::set<std::string>& names, ErrorList& errors) {
  NodeReader reader(node, path, errors);
  if (!reader.IsMapping()) return;
  BackendConfig backend;
  if (auto name = reader.String("name", true)) {
    if (!ValidName(*name)) {
      errors.Add(reader.Field("name"),
                 "\"" + *name + "\" must match [a-z0-9_-]{1,63}");
    } else if (!names.insert(*name).second) {
      errors.Add(reader.Field("name"),
                 "\"" + *name + "\" is used by another backend");
    }
    backend.name = *name;
  }
  backend.check = config.check;
  if (reader.Has("check")) {
    NodeReader check(reader.Child("check"), reader.Field("check"), errors);
    if (check.IsMapping()) backend.check = ReadCheck(check, config.check);
  } else {
    reader.Consume("check");
  }
  auto driver = reader.String("driver", true);
  if (!driver) return;
  backend.driver = *driver;
  const drivers::DriverKind* kind = registry.Find(*driver);
  if (kind == nullptr) {
    std::string known;
    for (const auto& n : registry.Names()) {
      known += (known.empty() ? "" : ", ") + n;
    }
    errors.Add(reader.Field("driver"),
               "unknown driver \"" + *driver + "\" (known: " + known + ")");
    return;
  }
  backend.options = kind->parse(reader);
  config.backends.push_back(std::move(backend));
}

void CheckRequired(const Config& config, const std::set<std::string>& names,
                   ErrorList& errors) {
  for (std::size_t i = 0; i < config.required.size(); ++i) {
    if (!names.contains(config.required[i])) {
      errors.Add("readiness.required[" + std::to_string(i) + "]",
                 "\"" + config.required[i] + "\" is not the name of a backend");
    }
  }
}

// YAML says the keys of a mapping are unique, yet yaml-cpp keeps every
// pair and lookups find the first: a key repeated further down a file would
// be ignored without a word. Reports each repetition with its field path.
void FindDuplicateKeys(const YAML::Node& node, const std::string& path,
                       ErrorList& errors) {
  if (node.IsSequence()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      FindDuplicateKeys(node[i], path + "[" + std::to_string(i) + "]", errors);
    }
    return;
  }
  if (!node.IsMap()) return;
  std::vector<std::pair<std::string, int>> seen;  // key, line
  for (const auto& pair : node) {
    if (!pair.first.IsScalar()) continue;  // the reader rejects those
    const std::string key = pair.first.Scalar();
    const std::string field = path.empty() ? key : path + "." + key;
    const int line = pair.first.Mark().line + 1;
    auto first = std::find_if(seen.begin(), seen.end(),
                              [&](const auto& s) { return s.first == key; });
    if (first != seen.end()) {
      errors.Add(field, "duplicate key (line " + std::to_string(line) +
                            "; first at line " + std::to_string(first->second) +
                            ")");
      continue;
    }
    seen.emplace_back(key, line);
    FindDuplicateKeys(pair.second, field, errors);
  }
}

}  // namespace

std::string_view RestartPolicyName(RestartPolicy policy) {
  switch (policy) {
    case RestartPolicy::kOnFailure:
      return "on-failure";
    case RestartPolicy::kNever:
      return "never";
    case RestartPolicy::kAlways:
      break;
  }
  return "always";
}

std::optional<int> ParseStopSignal(std::string_view name) {
  for (const auto& [known, sig] : kStopSignals) {
    if (name == known || name == known.substr(3)) return sig;
  }
  return std::nullopt;
}

std::string StopSignalName(int signal) {
  for (const auto& [known, sig] : kStopSignals) {
    if (sig == signal) return std::string(known);
  }
  return std::to_string(signal);
}

std::string_view PolicyName(ReadinessPolicy policy) {
  return policy == ReadinessPolicy::kAny ? "any" : "all";
}

std::string DefaultConfigYaml(const std::string& data_dir) {
  std::string text(kDefaultConfig);
  std::string quoted;
  for (char c : data_dir) {
    if (c == '"' || c == '\\') quoted.push_back('\\');
    quoted.push_back(c);
  }
  text.replace(text.find("@DATA_DIR@"), 10, quoted);
  return text;
}

std::optional<std::pair<std::string, std::uint16_t>> SplitHostPort(
    std::string_view address) {
  std::string_view host;
  std::string_view port;
  if (!address.empty() && address.front() == '[') {
    auto close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return std::nullopt;
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
    if (host.empty()) return std::nullopt;
  } else {
    auto colon = address.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() ||
      value > 65535) {
    return std::nullopt;
  }
  return std::make_pair(host.empty() ? std::string("0.0.0.0") : std::string(host),
                        static_cast<std::uint16_t>(value));
}

ConfigResult ParseConfig(std::string_view yaml,
                         const drivers::DriverRegistry& registry) {
  ConfigResult result;
  ErrorList errors;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    // yaml-cpp counts from 0; editors count from 1.
    result.errors.push_back("config: invalid YAML at line " +
                            std::to_string(e.mark.line + 1) + ", column " +
                            std::to_string(e.mark.column + 1) + ": " + e.msg);
    return result;
  }
  FindDuplicateKeys(root, "", errors);
  Config config;
  NodeReader top(root, "", errors);
  if (!top.IsMapping()) {
    result.errors = errors.errors();
    return result;
  }
  if (top.Has("server")) {
    NodeReader server(top.Child("server"), "server", errors);
    if (server.IsMapping()) ReadServer(server, config.server);
  } else {
    top.Consume("server");
  }
  if (top.Has("check")) {
    NodeReader check(top.Child("check"), "check", errors);
    if (check.IsMapping()) config.check = ReadCheck(check, config.check);
  } else {
    top.Consume("check");
  }
  if (top.Has("readiness")) {
    NodeReader readiness(top.Child("readiness"), "readiness", errors);
    if (readiness.IsMapping()) ReadReadiness(readiness, config);
  } else {
    top.Consume("readiness");
  }
  if (auto state_file = top.String("state_file", false)) {
    config.state_file = *state_file;
  }
  if (top.Has("worker")) {
    NodeReader worker(top.Child("worker"), "worker", errors);
    if (worker.IsMapping()) ReadWorker(worker, config.worker);
  } else {
    top.Consume("worker");
  }
  std::set<std::string> names;
  YAML::Node backends = top.Child("backends");
  if (!backends.IsDefined() || backends.IsNull()) {
    errors.Add("backends", "at least one backend is required");
  } else if (!backends.IsSequence()) {
    errors.Add("backends", "must be a list of backends");
  } else if (backends.size() == 0) {
    errors.Add("backends", "at least one backend is required");
  } else {
    for (std::size_t i = 0; i < backends.size(); ++i) {
      ReadBackend(backends[i], "backends[" + std::to_string(i) + "]", registry,
                  config, names, errors);
    }
  }
  top.RejectUnknown();
  CheckRequired(config, names, errors);
  if (!errors.empty()) {
    result.errors = errors.errors();
    return result;
  }
  result.config = std::move(config);
  return result;
}

ConfigResult LoadConfigFile(const std::string& path,
                            const drivers::DriverRegistry& registry) {
  ConfigResult result;
  auto fail = [&](const std::string& message) {
    result.errors.push_back("config: " + path + ": " + message);
    return result;
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return fail(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("not a regular file");
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxConfigBytes) {
    ::close(fd);
    return fail("larger than " + std::to_string(kMaxConfigBytes) + " bytes");
  }
  std::string text;
  char buffer[65536];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return fail(std::strerror(err));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    // The file may grow after fstat.
    if (text.size() > kMaxConfigBytes) {
      ::close(fd);
      return fail("larger than " + std::to_string(kMaxConfigBytes) + " bytes");
    }
  }
  ::close(fd);
  if (auto bad = drivers::FirstInvalidUtf8(text)) {
    return fail("not valid UTF-8 (byte offset " + std::to_string(*bad) + ")");
  }
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    return fail("empty");
  }
  return ParseConfig(text, registry);
}

std::string DescribeConfig(const Config& config) {
  auto source_of = [&](const std::string& key) -> std::string {
    for (const auto& s : config.overrides) {
      if (s.key == key) return s.source;
    }
    return "";
  };
  YAML::Emitter out;
  auto with_source = [&](const std::string& key) {
    std::string source = source_of(key);
    if (!source.empty()) out << YAML::Comment("from " + source);
  };
  auto check = [&](const CheckSettings& c) {
    out << YAML::BeginMap;
    out << YAML::Key << "interval" << YAML::Value << FormatDuration(c.interval);
    out << YAML::Key << "timeout" << YAML::Value << FormatDuration(c.timeout);
    out << YAML::Key << "failure_threshold" << YAML::Value << c.failure_threshold;
    out << YAML::Key << "success_threshold" << YAML::Value << c.success_threshold;
    out << YAML::Key << "retry" << YAML::Value << YAML::Flow << YAML::BeginMap
        << YAML::Key << "initial" << YAML::Value << FormatDuration(c.retry_initial)
        << YAML::Key << "max" << YAML::Value << FormatDuration(c.retry_max)
        << YAML::EndMap;
    out << YAML::Key << "periodic_initialization" << YAML::Value
        << c.periodic_initialization;
    out << YAML::EndMap;
  };
  out << YAML::BeginMap;
  out << YAML::Key << "server" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "address" << YAML::Value << YAML::DoubleQuoted
      << config.server.address;
  with_source("server.address");
  out << YAML::Key << "drain_delay" << YAML::Value
      << FormatDuration(config.server.drain_delay);
  out << YAML::EndMap;
  out << YAML::Key << "check" << YAML::Value;
  check(config.check);
  out << YAML::Key << "readiness" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "policy" << YAML::Value
      << std::string(PolicyName(config.policy));
  out << YAML::Key << "required" << YAML::Value << YAML::Flow << config.required;
  out << YAML::EndMap;
  out << YAML::Key << "state_file" << YAML::Value << YAML::DoubleQuoted
      << config.state_file;
  const WorkerConfig& w = config.worker;
  out << YAML::Key << "worker" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "stop_after" << YAML::Value << FormatDuration(w.stop_after);
  out << YAML::Key << "stop_signal" << YAML::Value
      << StopSignalName(w.stop_signal);
  out << YAML::Key << "stop_timeout" << YAML::Value
      << FormatDuration(w.stop_timeout);
  out << YAML::Key << "restart" << YAML::Value
      << std::string(RestartPolicyName(w.restart));
  out << YAML::Key << "restart_backoff" << YAML::Value << YAML::Flow
      << YAML::BeginMap << YAML::Key << "initial" << YAML::Value
      << FormatDuration(w.restart_initial) << YAML::Key << "max"
      << YAML::Value << FormatDuration(w.restart_max) << YAML::EndMap;
  out << YAML::EndMap;
  out << YAML::Key << "backends" << YAML::Value << YAML::BeginSeq;
  for (const auto& b : config.backends) {
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << b.name;
    out << YAML::Key << "driver" << YAML::Value << b.driver;
    out << YAML::Key << "check" << YAML::Value;
    check(b.check);
    if (b.options) {
      for (const auto& s : b.options->Describe()) {
        out << YAML::Key << s.key << YAML::Value << s.value;
        if (s.source != "config") out << YAML::Comment("from " + s.source);
      }
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace bgate::sidecar
