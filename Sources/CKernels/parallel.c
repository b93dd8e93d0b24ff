// Our kernels' threads are oneDNN's: one OpenMP (libgomp) team runs the convolutions and everything
// else, so no second pool of threads spins while the other works (measured: a separate Dispatch pool
// next to libgomp's spinning workers cost a third of the batch-norm time).
//
// GOMP_parallel is libgomp's entry point for `#pragma omp parallel` (what GCC emits); calling it directly
// needs no OpenMP support from the compiler that builds this package.
#include "CKernels.h"
#include <sys/syscall.h>
#include <unistd.h>

extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);
extern int omp_in_parallel(void);

struct job { sk_chunk_body body; void *context; int chunks; };

static void run_job(void *data) {
    struct job *job = data;
    int team = omp_get_num_threads(), me = omp_get_thread_num();
    // The team may be smaller than asked for; every chunk still runs exactly once.
    for (int chunk = me; chunk < job->chunks; chunk += team) job->body(job->context, chunk);
}

void sk_parallel_chunks(int chunks, int threads, sk_chunk_body body, void *context) {
    if (chunks <= 0) return;
    if (threads <= 1 || chunks == 1) {
        for (int chunk = 0; chunk < chunks; chunk++) body(context, chunk);
        return;
    }
    struct job job = {body, context, chunks};
    GOMP_parallel(run_job, &job, (unsigned)(threads < chunks ? threads : chunks), 0);
}

int sk_parallel_may_start_team(void) {
    return !omp_in_parallel() && getpid() == (pid_t)syscall(SYS_gettid);
}
