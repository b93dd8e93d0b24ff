// The CPUs this process may run on, and binding a thread to one CPU. CPU_COUNT, CPU_SET, gettid and
// sched_setaffinity need _GNU_SOURCE, which Swift's Glibc module does not define.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
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

int sk_current_thread_id(void) { return (int)gettid(); }

void sk_name_current_thread(const char *name) { pthread_setname_np(pthread_self(), name); }

int sk_bind_current_thread(int cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) return EINVAL;
    cpu_set_t mask;
    CPU_ZERO(&mask);
    CPU_SET(cpu, &mask);
    return sched_setaffinity(0, sizeof mask, &mask) == 0 ? 0 : errno;
}

int sk_thread_cpus(int tid, int *cpus, int capacity) {
    cpu_set_t mask;
    if (sched_getaffinity(tid, sizeof mask, &mask) != 0) return -errno;
    int n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &mask)) continue;
        if (n < capacity) cpus[n] = cpu;
        n++;
    }
    return n;
}

int sk_set_current_thread_cpus(const int *cpus, int count) {
    cpu_set_t mask;
    CPU_ZERO(&mask);
    for (int i = 0; i < count; i++) {
        if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE) return EINVAL;
        CPU_SET(cpus[i], &mask);
    }
    return sched_setaffinity(0, sizeof mask, &mask) == 0 ? 0 : errno;
}
