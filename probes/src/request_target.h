#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bgate::probes::detail {

// An origin-form request target ("/readyz?exclude=a&verbose") split into its
// path and its query parameters, in the order received.
struct RequestTarget {
  std::string_view path;  // as received, not decoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded
};

// Nothing when `target` is not origin-form (does not start with '/') or
// holds a malformed percent-escape in its query. Query keys and values are
// percent-decoded, '+' read as a space as HTML forms send it. A parameter
// without '=' has an empty value.
std::optional<RequestTarget> ParseRequestTarget(std::string_view target);

// Decodes %XX escapes (and '+' when `plus_is_space`); nothing when an escape
// is cut short or not hexadecimal.
std::optional<std::string> PercentDecode(std::string_view text,
                                         bool plus_is_space);

}  // namespace bgate::probes::detail
