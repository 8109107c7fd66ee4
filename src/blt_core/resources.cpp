#include "blt_core/resources.hpp"

#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace blt {

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

static uint64_t meminfo_field(const char* key) {
  FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return 0;
  char line[256];
  uint64_t value = 0;
  size_t klen = std::strlen(key);
  while (std::fgets(line, sizeof(line), f)) {
    if (std::strncmp(line, key, klen) == 0 && line[klen] == ':') {
      unsigned long long kb = 0;
      if (std::sscanf(line + klen + 1, "%llu", &kb) == 1) value = kb * 1024ull;
      break;
    }
  }
  std::fclose(f);
  return value;
}

uint64_t available_ram_bytes() { return meminfo_field("MemAvailable"); }
uint64_t total_ram_bytes() { return meminfo_field("MemTotal"); }

}  // namespace blt
