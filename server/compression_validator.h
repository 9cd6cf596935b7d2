// Validates the `compression` object of a job spec with the compression
// library's parser, turning its "path: message" errors into FieldErrors, and
// returns the normalised spec (every field explicit) for storage.
//
// Thread-safety: pure function.
#pragma once

#include "common/job_spec.h"

namespace fedpress::server {

CompressionValidator MakeCompressionValidator();

}  // namespace fedpress::server
