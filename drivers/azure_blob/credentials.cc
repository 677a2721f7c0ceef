#include "credentials.h"

#include "bgate/drivers/http/crypto.h"
#include "shared_key.h"

namespace bgate::drivers::azure_blob::detail {
namespace {

constexpr std::string_view kSpace = " \t\r\n";

std::string_view Trim(std::string_view text) {
  std::size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  std::size_t last = text.find_last_not_of(kSpace);
  return text.substr(first, last - first + 1);
}

// The raw value of each parameter named `name` (case-insensitively, as the
// service reads it).
std::vector<std::string_view> ParameterValues(std::string_view query,
                                              std::string_view name) {
  std::vector<std::string_view> values;
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view()
                                          : query.substr(amp + 1);
    std::size_t eq = pair.find('=');
    if (eq != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < eq && same; ++i) {
      char c = pair[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      same = c == name[i];
    }
    if (same) values.push_back(pair.substr(eq + 1));
  }
  return values;
}

}  // namespace

std::optional<std::string> DecodeAccountKey(std::string_view text,
                                            std::string* error) {
  std::optional<std::string> key = http::Base64Decode(Trim(text));
  if (!key || key->empty()) {
    *error = "is not a base64-encoded account key";
    return std::nullopt;
  }
  return key;
}

std::optional<std::string> NormalizeSasToken(std::string_view text,
                                             std::string* error) {
  std::string_view token = Trim(text);
  if (token.starts_with('?')) token.remove_prefix(1);
  if (token.empty()) {
    *error = "is empty";
    return std::nullopt;
  }
  if (token.find("://") != std::string_view::npos) {
    *error = "holds a URL; it must hold only the SAS query string";
    return std::nullopt;
  }
  for (char c : token) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#') {
      *error = "is not a SAS query string (white space or '#' inside)";
      return std::nullopt;
    }
  }
  std::vector<std::string_view> sigs = ParameterValues(token, "sig");
  if (sigs.empty() || sigs.front().empty()) {
    *error = "is not a SAS token (no sig= parameter)";
    return std::nullopt;
  }
  return std::string(token);
}

std::vector<std::string> SasSignatures(std::string_view token) {
  std::vector<std::string> out;
  for (std::string_view sig : ParameterValues(token, "sig")) {
    if (sig.empty()) continue;
    out.emplace_back(sig);
    std::string decoded = PercentDecode(sig);
    if (decoded != sig) out.push_back(std::move(decoded));
  }
  return out;
}

std::string AppendSasToken(std::string_view url, std::string_view token) {
  std::string out(url);
  out.push_back(out.find('?') == std::string::npos ? '?' : '&');
  return out + std::string(token);
}

}  // namespace bgate::drivers::azure_blob::detail
