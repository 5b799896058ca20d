// Human formatting of counts, sizes, rates and durations for the progress
// line and the summary.
#pragma once

#include <cstdint>
#include <string>

namespace ferry {

std::string FormatCount(uint64_t n);         // "1,234,567"
std::string FormatBytes(uint64_t bytes);     // "1.5 GiB"
std::string FormatRate(double bytes_per_s);  // "95.3 MiB/s"
std::string FormatMillis(int64_t ms);        // "1.234 s", "2 min 03 s"

}  // namespace ferry
