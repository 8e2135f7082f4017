// A thin C face on libphonenumber: Swift's C++ interop crashes importing its protobuf headers.
#include "phone_shim.h"

#include <cstring>
#include <string>

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

extern "C" int phone_format_e164(const char *number, const char *default_region, char *out, size_t out_size) {
    // GetInstance is initialised once (pthread_once) and its methods are const: safe from any thread.
    const PhoneNumberUtil *util = PhoneNumberUtil::GetInstance();
    PhoneNumber parsed;
    const std::string region = default_region ? default_region : "ZZ";
    if (util->Parse(number, region, &parsed) != PhoneNumberUtil::NO_PARSING_ERROR) {
        return 1;
    }
    if (!util->IsValidNumber(parsed)) {
        return 2;
    }
    std::string formatted;
    util->Format(parsed, PhoneNumberUtil::E164, &formatted);
    if (formatted.size() + 1 > out_size) {
        return 3;
    }
    std::memcpy(out, formatted.c_str(), formatted.size() + 1);
    return 0;
}
