#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace bgate::drivers {

// Parses "500ms", "10s", "1m", "1h" and sums such as "1m30s". Returns nothing
// for anything else, including negative and empty values.
std::optional<std::chrono::nanoseconds> ParseDuration(std::string_view text);
// The shortest exact spelling of `d` in the units ParseDuration accepts.
std::string FormatDuration(std::chrono::nanoseconds d);

// Every problem found in a config, each naming its field. Not thread-safe.
class ErrorList {
 public:
  void Add(const std::string& field, const std::string& message);
  bool empty() const { return errors_.empty(); }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::vector<std::string> errors_;
};

// Reads the keys of one YAML mapping with typed accessors, records every
// error against its field path (`backends[1].check.timeout`), and knows which
// keys were read so that unknown keys can be reported. Not thread-safe.
class NodeReader {
 public:
  // `path` is the field path of `node` itself ("" for the document root).
  NodeReader(const YAML::Node& node, std::string path, ErrorList& errors);

  // True when `node` is a mapping (or absent/null, read as empty). Reports an
  // error otherwise.
  bool IsMapping() const { return is_mapping_; }
  bool Has(const std::string& key) const;
  // Field path of a key below this node.
  std::string Field(const std::string& key) const;
  std::string Field(const std::string& key, std::size_t index) const;

  std::optional<std::string> String(const std::string& key, bool required);
  std::optional<bool> Bool(const std::string& key);
  std::optional<std::int64_t> Int(const std::string& key, std::int64_t min,
                                  std::int64_t max);
  std::optional<std::uint64_t> UInt64(const std::string& key);
  std::optional<std::chrono::nanoseconds> Duration(const std::string& key);
  std::optional<std::vector<std::string>> StringList(const std::string& key,
                                                     bool required);
  // The raw child node, marked as read (for nested mappings and sequences).
  YAML::Node Child(const std::string& key);
  // Marks a key as read without reading it (handled elsewhere).
  void Consume(const std::string& key);

  // Reports every key that no accessor read.
  void RejectUnknown();

  ErrorList& errors() { return errors_; }

 private:
  YAML::Node Scalar(const std::string& key);

  YAML::Node node_;
  std::string path_;
  ErrorList& errors_;
  bool is_mapping_ = true;
  std::set<std::string> consumed_;
};

}  // namespace bgate::drivers
