#pragma once

#include <string_view>

#include "bgate/drivers/driver.h"

namespace bgate::drivers::s3::detail {

// The failure reason of an S3 answer with a non-2xx `status`, by the error
// code of its XML body: the status alone says little (S3 answers 403 for a
// bad signature and for a missing grant alike). Answers without a code (a
// HEAD, a proxy's page) fall back on 401, 403 and 404. Pure, thread-safe.
Reason ReasonForS3Error(int status, std::string_view code);

}  // namespace bgate::drivers::s3::detail
