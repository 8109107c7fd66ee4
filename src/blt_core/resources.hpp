// Machine resources as this process may use them: cores from the CPU affinity mask, available RAM.
// Thread counts everywhere derive from here so containers and taskset limits are respected.
#pragma once
#include <cstddef>
#include <cstdint>

namespace blt {

// Cores in this process's affinity mask (at least 1).
int usable_cores();

// MemAvailable from /proc/meminfo in bytes, or 0 if it cannot be read.
uint64_t available_ram_bytes();

// Total RAM in bytes (MemTotal), or 0 if unknown.
uint64_t total_ram_bytes();

}  // namespace blt
