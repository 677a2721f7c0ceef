// Any bytes as a Keystone token response, a timestamp or an auth_url:
// read or refused, never a crash.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "keystone.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  namespace keystone = bgate::drivers::swift::detail;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const keystone::EndpointChoice any_region;
  const keystone::EndpointChoice internal_in_region{"RegionOne", "internal"};
  for (const auto& choice : {any_region, internal_in_region}) {
    const keystone::TokenParse parsed =
        keystone::ParseTokenResponse(bytes, choice);
    if (parsed.token) {
      if (parsed.token->storage_url.ends_with('/')) __builtin_trap();
      keystone::TokenLifetime(*parsed.token, std::chrono::system_clock::now());
    } else if (parsed.error.empty()) {
      __builtin_trap();
    }
  }
  keystone::ParseTimestamp(bytes);
  keystone::TokensUrl(bytes);
  return 0;
}
