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
/* Seconds between two counts at least: the count costs tens of
 * microseconds, a batch as little as a few. */
#define FNN_RECOUNT_S 0.005
/* At most this share of the time goes to counting: the count reads one
 * file per thread of the process, 35 us with 5 threads and 400 us with 67
 * (2 vCPUs of a Xeon), which every 5 ms would be 8% of a 64-thread fit
 * during which the team waits for the caller.  A count that took d seconds
 * is not retaken for d / FNN_COUNT_SHARE seconds. */
#define FNN_COUNT_SHARE 0.01

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

/* Runnable threads of the whole system now, -1 when unknown. */
static inline long fnn_system_running(void)
{
    char buf[128], *p;
    /* "0.52 0.58 0.59 3/178 12345": runnable / all tasks, system-wide. */
    if (fnn_read_text("/proc/loadavg", buf, sizeof buf) < 0)
        return -1;
    p = strchr(buf, '/');
    if (p == NULL)
        return -1;
    while (p > buf && p[-1] != ' ')
        p--;
    return strtol(p, NULL, 10);
}

/* Runnable threads competing with the calling thread's team, 0 when /proc
 * cannot be read; those of this process are also stored in *in_process. */
static inline int fnn_competing_threads(int *in_process)
{
    char buf[512], path[64];
    const size_t name_len = sizeof(FNN_WORKER_NAME) - 1;
    long self = (long)syscall(SYS_gettid), tid, system_running, after;
    int own_running = 0, own_competing = 0;
    char *name, *end;
    struct dirent *entry;
    DIR *dir;

    *in_process = 0;
    system_running = fnn_system_running();
    if (system_running < 0)
        return 0;
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
    /* The run queue again: a worker that stopped spinning while the
     * threads were read was runnable in the first reading only, and would
     * otherwise pass for another process's thread.  Taking the smaller
     * reading can only miss a competitor that started meanwhile, which the
     * next count sees. */
    after = fnn_system_running();
    if (after >= 0 && after < system_running)
        system_running = after;
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

/* Seconds other processes' threads must be seen runnable, count after
 * count, before they shrink the team; and the share of time threads of
 * the process's CPU-pressure domain must have waited for a CPU since the
 * last count to shrink it at once (see fnn_threads_now). */
#define FNN_CONFIRM_S 0.002
#define FNN_STALL_MIN 0.1

/* The file of CPU pressure (PSI) that covers this process: its cgroup v2
 * group's cpu.pressure where the unified hierarchy has one, else the
 * whole system's /proc/pressure/cpu; "" when the kernel has neither. */
static char fnn_psi_path[512];
static int fnn_psi_found = 0;

static inline void fnn_find_psi(void)
{
    char buf[512], path[512];
    const char *roots[2] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
    char *group = NULL, *nl;
    int i;
    fnn_psi_path[0] = '\0';
    /* "0::/some/group": the cgroup v2 line, on a pure or a hybrid system. */
    if (fnn_read_text("/proc/self/cgroup", buf, sizeof buf) > 0) {
        group = strstr(buf, "0::");
        if (group != NULL && (group == buf || group[-1] == '\n')) {
            group += 3;
            if ((nl = strchr(group, '\n')) != NULL)
                *nl = '\0';
        } else {
            group = NULL;
        }
    }
    for (i = 0; group != NULL && i < 2; i++) {
        snprintf(path, sizeof path, "%s%s/cpu.pressure", roots[i],
                 strcmp(group, "/") == 0 ? "" : group);
        if (access(path, R_OK) == 0) {
            memcpy(fnn_psi_path, path, sizeof fnn_psi_path);
            return;
        }
    }
    if (access("/proc/pressure/cpu", R_OK) == 0)
        memcpy(fnn_psi_path, "/proc/pressure/cpu", sizeof "/proc/pressure/cpu");
}

/* Microseconds that some thread of the pressure domain waited for a CPU,
 * since boot; -1 without PSI. */
static inline long long fnn_cpu_stall_us(void)
{
    char buf[256], *total;
    if (!__atomic_load_n(&fnn_psi_found, __ATOMIC_ACQUIRE)) {
        fnn_find_psi();
        __atomic_store_n(&fnn_psi_found, 1, __ATOMIC_RELEASE);
    }
    if (fnn_psi_path[0] == '\0')
        return -1;
    /* "some avg10=0.00 avg60=0.00 avg300=0.00 total=12345\nfull ...". */
    if (fnn_read_text(fnn_psi_path, buf, sizeof buf) <= 0)
        return -1;
    total = strstr(buf, "total=");
    return total != NULL ? strtoll(total + 6, NULL, 10) : -1;
}

/* Whether other processes' runnable threads, seen at every count since
 * `since` (now included), count as competitors now: seen for
 * FNN_CONFIRM_S, or the pressure domain's stall total (microseconds; -1
 * without PSI) grew by FNN_STALL_MIN of the time since it was last read
 * at `read_at`. */
static inline int fnn_others_confirmed(double now, double since,
                                       long long stall, long long stall_before,
                                       double read_at)
{
    if (now - since >= FNN_CONFIRM_S)
        return 1;
    return stall >= 0 && stall_before >= 0 && now > read_at
           && (double)(stall - stall_before) * 1e-6
                  >= FNN_STALL_MIN * (now - read_at);
}

/* The state of the count, shared by every calling thread and read and
 * written atomically (a stale or torn-between-fields state is harmless:
 * it only sizes one team): the CPUs left at the last count and when it
 * expires; since when other processes' threads have been seen at every
 * count (0: not at the last one); the stall total and time of the last
 * count. */
static int fnn_free_cpus_cached = 1;
static double fnn_count_expires = 0.0;
static double fnn_seen_since = 0.0;
static long long fnn_stall_before = -1;
static double fnn_stall_read_at = 0.0;
/* Tests turn the count off to make sure a full team runs. */
static int fnn_counting = 1;
/* Counts taken and the nanoseconds they took, since the process started
 * (read by benchmarks and tests). */
static long long fnn_counts_taken = 0;
static long long fnn_count_ns = 0;
/* CPUs the process pretends to have, all free (0: the real machine); set
 * by _threads._emulate_cpus for tests and benchmarks. */
static int fnn_emulated_cpus = 0;

/* The team size for the next piece of work: at most n_max, at least 1,
 * and no more than the online CPUs the competitors leave.
 *
 * A count is a snapshot.  This process's own competitors (NumPy's spinning
 * BLAS workers, another thread's work) are read from its own threads and
 * trusted at once.  Other processes' runnable threads come from the
 * system-wide run queue, and on a quiet machine a snapshot taken during a
 * fit sees one about one time in fifteen (kernel threads such as kdamond,
 * a container's agent: gone again within a millisecond or two); trusting
 * it halved the team for the next 5 ms, 3-6% of a quiet fit's time and up
 * to 27% of some fits (benchmarks/conditions.py, team count).  They count
 * once either they have been seen at every count for FNN_CONFIRM_S (the
 * count is retaken every 0.5 ms meanwhile), or the kernel's CPU pressure
 * says threads really waited for a CPU since the last count, which is what
 * a competitor beside a full team causes.  The pressure of the process's
 * own cgroup v2 group is preferred to the system's: it is the process's
 * own CPU allowance that matters, not the host's run queue. */
static inline int fnn_threads_now(int n_max)
{
    double now, expires, since, read_at, took, wait;
    int free_cpus, competitors, others;
    long long stall, stall_before;
    long online;
    int in_process, confirmed;
    if (n_max <= 1)
        return 1;
    if (!__atomic_load_n(&fnn_counting, __ATOMIC_RELAXED)
            || __atomic_load_n(&fnn_emulated_cpus, __ATOMIC_RELAXED) > 0)
        return n_max;
    now = fnn_monotonic_s();
    __atomic_load(&fnn_count_expires, &expires, __ATOMIC_RELAXED);
    if (now < expires)
        return (free_cpus = __atomic_load_n(&fnn_free_cpus_cached,
                                            __ATOMIC_RELAXED)) < 1 ? 1
               : free_cpus < n_max ? free_cpus : n_max;

    online = sysconf(_SC_NPROCESSORS_ONLN);
    competitors = fnn_competing_threads(&in_process);
    others = competitors - in_process;
    stall = fnn_cpu_stall_us();
    stall_before = __atomic_exchange_n(&fnn_stall_before, stall, __ATOMIC_RELAXED);
    __atomic_load(&fnn_stall_read_at, &read_at, __ATOMIC_RELAXED);
    __atomic_store(&fnn_stall_read_at, &now, __ATOMIC_RELAXED);
    __atomic_load(&fnn_seen_since, &since, __ATOMIC_RELAXED);
    confirmed = 1;
    if (others > 0) {
        if (since == 0.0) {
            since = now;
            __atomic_store(&fnn_seen_since, &since, __ATOMIC_RELAXED);
        }
        confirmed = fnn_others_confirmed(now, since, stall, stall_before,
                                         read_at);
    } else {
        since = 0.0;
        __atomic_store(&fnn_seen_since, &since, __ATOMIC_RELAXED);
    }
    free_cpus = (int)(online > 0 ? online : n_max) - in_process
                - (confirmed ? others : 0);
    took = fnn_monotonic_s() - now;
    __atomic_fetch_add(&fnn_counts_taken, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&fnn_count_ns, (long long)(took * 1e9), __ATOMIC_RELAXED);
    /* Unconfirmed sightings are retaken sooner, four times within
     * FNN_CONFIRM_S, rather than at every call: a batch can be shorter
     * than one count. */
    wait = confirmed ? FNN_RECOUNT_S : FNN_CONFIRM_S / 4;
    if (took / FNN_COUNT_SHARE > wait)
        wait = took / FNN_COUNT_SHARE;
    expires = now + took + wait;
    __atomic_store_n(&fnn_free_cpus_cached, free_cpus, __ATOMIC_RELAXED);
    __atomic_store(&fnn_count_expires, &expires, __ATOMIC_RELAXED);
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
static int fnn_emulated_cpus = 0;
static long long fnn_counts_taken = 0;
static long long fnn_count_ns = 0;
static inline int fnn_threads_now(int n_max) { return n_max < 1 ? 1 : n_max; }
static inline int fnn_others_confirmed(double now, double since,
                                       long long stall, long long stall_before,
                                       double read_at)
{
    return 1;
}
static inline long long fnn_cpu_stall_us(void) { return -1; }
static char fnn_psi_path[1] = "";

#endif
#endif  /* FASTNN_CPUS_H */
