#include "bgate/drivers/options.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

namespace bgate::drivers {
namespace {

using std::chrono::nanoseconds;

struct Unit {
  std::string_view name;
  std::int64_t ns;
};
// Longest names first so "ms" is not read as "m".
constexpr Unit kUnits[] = {
    {"ms", 1'000'000},
    {"h", 3'600'000'000'000},
    {"m", 60'000'000'000},
    {"s", 1'000'000'000},
};

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return Quote(node.Scalar());
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    default: return "null";
  }
}

}  // namespace

std::optional<nanoseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  long double total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      ++i;
    }
    if (i == start) return std::nullopt;
    std::string number(text.substr(start, i - start));
    if (number.front() == '.' || number.back() == '.' ||
        number.find('.') != number.rfind('.')) {
      return std::nullopt;
    }
    const Unit* unit = nullptr;
    for (const auto& u : kUnits) {
      if (text.substr(i, u.name.size()) == u.name) {
        unit = &u;
        break;
      }
    }
    if (unit == nullptr) return std::nullopt;
    i += unit->name.size();
    total += std::stold(number) * static_cast<long double>(unit->ns);
    if (total > static_cast<long double>(std::numeric_limits<std::int64_t>::max() / 2)) {
      return std::nullopt;
    }
  }
  return nanoseconds(static_cast<std::int64_t>(std::llround(total)));
}

std::string FormatDuration(nanoseconds d) {
  std::int64_t ns = d.count();
  if (ns == 0) return "0s";
  std::string out;
  for (const auto& u : {kUnits[1], kUnits[2], kUnits[3], kUnits[0]}) {
    if (ns >= u.ns) {
      out += std::to_string(ns / u.ns) + std::string(u.name);
      ns %= u.ns;
    }
  }
  if (ns != 0) {
    // Below a millisecond: not a spelling ParseDuration takes, but exact.
    out += std::to_string(ns) + "ns";
  }
  return out;
}

void ErrorList::Add(const std::string& field, const std::string& message) {
  errors_.push_back(field.empty() ? message : field + ": " + message);
}

NodeReader::NodeReader(const YAML::Node& node, std::string path,
                       ErrorList& errors)
    : node_(node), path_(std::move(path)), errors_(errors) {
  if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) {
    is_mapping_ = false;
    errors_.Add(path_.empty() ? "config" : path_,
                "must be a mapping, not " + Describe(node_));
  }
}

bool NodeReader::Has(const std::string& key) const {
  return is_mapping_ && node_.IsMap() && node_[key].IsDefined() &&
         !node_[key].IsNull();
}

std::string NodeReader::Field(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

std::string NodeReader::Field(const std::string& key, std::size_t index) const {
  return Field(key) + "[" + std::to_string(index) + "]";
}

YAML::Node NodeReader::Child(const std::string& key) {
  consumed_.insert(key);
  if (!Has(key)) return YAML::Node();
  return node_[key];
}

void NodeReader::Consume(const std::string& key) { consumed_.insert(key); }

YAML::Node NodeReader::Scalar(const std::string& key) {
  YAML::Node child = Child(key);
  if (child.IsDefined() && !child.IsNull() && !child.IsScalar()) {
    errors_.Add(Field(key), "must be a single value, not " + Describe(child));
    return YAML::Node();
  }
  return child;
}

std::optional<std::string> NodeReader::String(const std::string& key,
                                              bool required) {
  YAML::Node child = Scalar(key);
  if (!child.IsDefined() || child.IsNull()) {
    if (required && !Has(key)) errors_.Add(Field(key), "is required");
    return std::nullopt;
  }
  if (required && child.Scalar().empty()) {
    errors_.Add(Field(key), "must not be empty");
    return std::nullopt;
  }
  return child.Scalar();
}

std::optional<bool> NodeReader::Bool(const std::string& key) {
  YAML::Node child = Scalar(key);
  if (!child.IsDefined() || child.IsNull()) return std::nullopt;
  const std::string& s = child.Scalar();
  if (s == "true") return true;
  if (s == "false") return false;
  errors_.Add(Field(key), Quote(s) + " is not true or false");
  return std::nullopt;
}

std::optional<std::int64_t> NodeReader::Int(const std::string& key,
                                            std::int64_t min,
                                            std::int64_t max) {
  YAML::Node child = Scalar(key);
  if (!child.IsDefined() || child.IsNull()) return std::nullopt;
  const std::string& s = child.Scalar();
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) {
    errors_.Add(Field(key), Quote(s) + " is not a whole number");
    return std::nullopt;
  }
  if (value < min || value > max) {
    errors_.Add(Field(key), Quote(s) + " is out of range [" +
                                std::to_string(min) + ", " +
                                std::to_string(max) + "]");
    return std::nullopt;
  }
  return value;
}

std::optional<std::uint64_t> NodeReader::UInt64(const std::string& key) {
  YAML::Node child = Scalar(key);
  if (!child.IsDefined() || child.IsNull()) return std::nullopt;
  const std::string& s = child.Scalar();
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) {
    errors_.Add(Field(key), Quote(s) + " is not a non-negative whole number");
    return std::nullopt;
  }
  return value;
}

std::optional<std::chrono::nanoseconds> NodeReader::Duration(
    const std::string& key) {
  YAML::Node child = Scalar(key);
  if (!child.IsDefined() || child.IsNull()) return std::nullopt;
  const std::string& s = child.Scalar();
  auto d = ParseDuration(s);
  if (!d) {
    errors_.Add(Field(key), Quote(s) +
                                " is not a duration (use e.g. 500ms, 10s, 1m, "
                                "1h)");
    return std::nullopt;
  }
  return d;
}

std::optional<std::vector<std::string>> NodeReader::StringList(
    const std::string& key, bool required) {
  YAML::Node child = Child(key);
  if (!child.IsDefined() || child.IsNull()) {
    if (required) errors_.Add(Field(key), "is required");
    return std::nullopt;
  }
  if (!child.IsSequence()) {
    errors_.Add(Field(key), "must be a list, not " + Describe(child));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (std::size_t i = 0; i < child.size(); ++i) {
    if (!child[i].IsScalar()) {
      errors_.Add(Field(key, i), "must be a string, not " + Describe(child[i]));
      ok = false;
      continue;
    }
    out.push_back(child[i].Scalar());
  }
  if (!ok) return std::nullopt;
  if (required && out.empty()) {
    errors_.Add(Field(key), "must not be empty");
    return std::nullopt;
  }
  return out;
}

void NodeReader::RejectUnknown() {
  if (!is_mapping_ || !node_.IsMap()) return;
  for (const auto& entry : node_) {
    if (!entry.first.IsScalar()) {
      errors_.Add(path_.empty() ? "config" : path_, "has a non-string key");
      continue;
    }
    const std::string& key = entry.first.Scalar();
    if (!consumed_.contains(key)) {
      errors_.Add(Field(key), "unknown key");
    }
  }
}

}  // namespace bgate::drivers
