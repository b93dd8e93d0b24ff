// The CPUs this process may run on. CPU_COUNT needs _GNU_SOURCE, which Swift's Glibc module does not define.
#define _GNU_SOURCE
#include <sched.h>
#include <unistd.h>
#include "CKernels.h"

int sk_affinity_cpu_count(void) {
    cpu_set_t mask;
    if (sched_getaffinity(0, sizeof mask, &mask) == 0) {
        int n = CPU_COUNT(&mask);
        if (n > 0) return n;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}
