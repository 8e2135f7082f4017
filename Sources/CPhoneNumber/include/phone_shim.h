#ifndef PHONE_SHIM_H
#define PHONE_SHIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Parses `number` (with `default_region`, an ISO 3166-1 alpha-2 code or NULL, for numbers without a
/// country code) and writes its E.164 form, NUL-terminated, into `out`.
/// Returns 0 on success, 1 when the text is not a phone number, 2 when it parses but is not a valid
/// number for its region, 3 when `out` is too small.
int phone_format_e164(const char *number, const char *default_region, char *out, size_t out_size);

#ifdef __cplusplus
}
#endif

#endif
