#pragma once

#include <string>
#include <string_view>

#include "bgate/drivers/driver.h"
#include "bgate/drivers/http/http_client.h"

// How a Blob service error becomes a Reason. Pure functions, thread-safe.
namespace bgate::drivers::azure_blob::detail {

// True for what an Azure error code looks like: 1 to 64 ASCII letters and
// digits. Anything else is not repeated in a detail.
bool IsPlausibleErrorCode(std::string_view code);

// The error code of a failed answer: the x-ms-error-code header, else the
// <Error><Code> of the body; empty when neither holds a plausible code.
std::string ErrorCode(const http::Response& response);

// The reason for an HTTP answer that is not a success.
Reason ReasonForError(int status, std::string_view code);

}  // namespace bgate::drivers::azure_blob::detail
