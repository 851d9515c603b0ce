/* How many of the engine's threads can run right now.
 *
 * The engine's OpenMP team waits at a barrier after every phase of a
 * batch.  When another runnable thread shares the cores (a busy process,
 * a second fit, or NumPy's OpenBLAS workers, which busy-wait about 0.1 s
 * after every threaded call and cannot be told to stop), a team member is
 * descheduled and every barrier waits for it: a scheduler time slice each,
 * measured as fits up to about 100 times slower (two digits fits at once on
 * 2 cores: 4.2 s each, against 40-95 ms alone).  A team sized to the free cores
 * degrades in proportion instead, so the engine counts the competitors
 * every few milliseconds and sizes the team of each batch to the cores
 * left.  Results never depend on the team size (the work is cut into
 * blocks by the sizes and the machine's CPU count, never by the team), so
 * changing it between batches is safe.  fastnn/_engine/_threads.pyx is
 * this header's only user.
 *
 * Competitors are runnable threads that are neither the calling thread nor
 * an engine worker: threads of other processes (the run queue count of
 * /proc/loadavg minus this process's runnable threads) and this process's
 * own other runnable threads.  Engine workers are recognised by the name
 * they give themselves (fnn_mark_worker) the first time they run engine
 * work.  Linux only; elsewhere every call gets the full team.
 */
#ifndef FASTNN_CPUS_H
#define FASTNN_CPUS_H

#ifdef _OPENMP
#include <omp.h>
#endif

#define FNN_WORKER_NAME "fastnn-omp"
/* Seconds between two counts: the count costs tens of microseconds, a
 * batch as little as a few. */
#define FNN_RECOUNT_S 0.005

#if defined(__linux__)
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static __thread int fnn_worker_named = 0;

/* Called by every thread of an engine parallel region; names the OpenMP
 * workers (never the caller's own thread) once. */
static inline void fnn_mark_worker(void)
{
#ifdef _OPENMP
    if (!fnn_worker_named) {
        fnn_worker_named = 1;
        if (omp_get_thread_num() != 0)
            prctl(PR_SET_NAME, FNN_WORKER_NAME, 0, 0, 0);
    }
#endif
}

static inline int fnn_read_text(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;
    if (fd < 0)
        return -1;
    n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return (int)n;
}

/* Runnable threads competing with the calling thread's team, 0 when /proc
 * cannot be read; those of this process are also stored in *in_process. */
static inline int fnn_competing_threads(int *in_process)
{
    char buf[512], path[64];
    const size_t name_len = sizeof(FNN_WORKER_NAME) - 1;
    long self = (long)syscall(SYS_gettid), tid, system_running;
    int own_running = 0, own_competing = 0;
    char *p, *name, *end;
    struct dirent *entry;
    DIR *dir;

    *in_process = 0;
    /* "0.52 0.58 0.59 3/178 12345": runnable / all tasks, system-wide. */
    if (fnn_read_text("/proc/loadavg", buf, sizeof buf) < 0)
        return 0;
    p = strchr(buf, '/');
    if (p == NULL)
        return 0;
    while (p > buf && p[-1] != ' ')
        p--;
    system_running = strtol(p, NULL, 10);

    dir = opendir("/proc/self/task");
    if (dir == NULL)
        return 0;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9')
            continue;
        tid = strtol(entry->d_name, NULL, 10);
        snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
        if (fnn_read_text(path, buf, sizeof buf) <= 0)
            continue;
        /* "tid (name) S ...": the name may hold spaces and parentheses. */
        name = strchr(buf, '(');
        end = strrchr(buf, ')');
        if (name == NULL || end == NULL || end[1] != ' ' || end[2] != 'R')
            continue;
        own_running++;
        if (tid == self)
            continue;
        if ((size_t)(end - name - 1) == name_len
                && memcmp(name + 1, FNN_WORKER_NAME, name_len) == 0)
            continue;
        own_competing++;
    }
    closedir(dir);
    *in_process = own_competing;
    if (system_running < own_running)
        system_running = own_running;
    return own_competing + (int)(system_running - own_running);
}

static inline double fnn_monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPUs left by the competitors at the last count, and when the count
 * expires: shared by every calling thread, read and written atomically (a
 * stale count is harmless). */
static int fnn_free_cpus_cached = 1;
static double fnn_count_expires = 0.0;
/* Tests turn the count off to make sure a full team runs. */
static int fnn_counting = 1;

/* The team size for the next piece of work: at most n_max, at least 1,
 * and no more than the online CPUs the competitors leave. */
static inline int fnn_threads_now(int n_max)
{
    double now, expires;
    int free_cpus;
    long online;
    int in_process;
    if (n_max <= 1)
        return 1;
    if (!__atomic_load_n(&fnn_counting, __ATOMIC_RELAXED))
        return n_max;
    now = fnn_monotonic_s();
    __atomic_load(&fnn_count_expires, &expires, __ATOMIC_RELAXED);
    if (now >= expires) {
        online = sysconf(_SC_NPROCESSORS_ONLN);
        free_cpus = (int)(online > 0 ? online : n_max)
                    - fnn_competing_threads(&in_process);
        expires = now + FNN_RECOUNT_S;
        __atomic_store_n(&fnn_free_cpus_cached, free_cpus, __ATOMIC_RELAXED);
        __atomic_store(&fnn_count_expires, &expires, __ATOMIC_RELAXED);
    } else {
        free_cpus = __atomic_load_n(&fnn_free_cpus_cached, __ATOMIC_RELAXED);
    }
    if (free_cpus < 1)
        return 1;
    return free_cpus < n_max ? free_cpus : n_max;
}

#else  /* not Linux: no cheap way to count competitors */

static inline void fnn_mark_worker(void) {}
static inline int fnn_competing_threads(int *in_process)
{
    *in_process = 0;
    return 0;
}
static int fnn_counting = 1;
static inline int fnn_threads_now(int n_max) { return n_max < 1 ? 1 : n_max; }

#endif
#endif  /* FASTNN_CPUS_H */
