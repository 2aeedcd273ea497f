// The CPUs this process may run on, for the thread budget (EngramBase.ThreadBudget).
#define _GNU_SOURCE
#include <sched.h>
#include <unistd.h>

#include "ckernels.h"

int ek_available_cpus(void) {
#ifdef __linux__
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}
