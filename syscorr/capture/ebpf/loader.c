/* syscorr-ebpf: load syscorr.bpf.c, start (or attach to) the target, write its binary log.
 *
 * Usage: syscorr-ebpf --out LOG [--stats JSON] [--string-limit N] [--ring-mb N]
 *                     [--syscalls a,b,c | --all] (-- CMD ARGS... | --pid PID [--duration S])
 *
 * Contract: with CMD, the target is forked stopped (blocked on a pipe, before execve), added to
 * the tracked map, the programs attached, its open fds scanned from /proc, and only then
 * released: the log starts at its execve. The loader is a child subreaper, so it waits for the
 * whole process tree (orphans included) and exits with the target's status, or kills itself
 * with the signal that killed the target (as strace does); it blocks SIGINT/SIGTERM/SIGHUP/
 * SIGQUIT meanwhile (a terminal's Ctrl-C reaches the target's process group already). With
 * --pid, it records that process (and children it forks) for S seconds, until it exits (its
 * exit status, from its REC_EXIT record, goes into --stats as "target_exit"), or until
 * SIGINT/SIGTERM/SIGHUP/SIGQUIT (stopping early, the log complete).
 * It sleeps in epoll on the ring buffer, a signalfd (SIGCHLD with CMD; the stop signals with
 * --pid) and a pidfd of the --pid target, so an exit or a stop is seen at once; the ring buffer
 * is drained every 50 ms, or sooner when the program wakes us (more than a quarter full). At
 * the end it writes the per-CPU lost/written counters and both clocks into the log and, as
 * JSON, into --stats. Errors go to stderr as one line starting "syscorr-ebpf:"
 * with the failing step and errno; exit code 125 when tracing could not start.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "record.h"
#include "syscalls_gen.h" /* static const struct { const char *name; int nr; } SYSCALLS[] */
#include "syscorr.skel.h"

#define FAIL_START 125

struct class_of {
    const char *name;
    int cls;
};

static const struct class_of CLASSES[] = {
    {"write", C_WRITE}, {"pwrite64", C_WRITE}, {"read", C_READ}, {"pread64", C_READ},
    {"sendto", C_SENDTO}, {"recvfrom", C_RECVFROM}, {"connect", C_CONNECT},
    {"bind", C_CONNECT}, {"accept", C_ACCEPT}, {"accept4", C_ACCEPT}, {"open", C_PATH0},
    {"openat", C_PATH1}, {"openat2", C_PATH1}, {"execve", C_EXEC}, {"execveat", C_EXECAT},
    {"epoll_wait", C_EPOLL}, {"epoll_pwait", C_EPOLL}, {"epoll_pwait2", C_EPOLL2},
    {"epoll_ctl", C_EPOLL_CTL}, {"pipe", C_PIPE}, {"pipe2", C_PIPE},
    {"socketpair", C_SOCKETPAIR}, {"clone3", C_CLONE3}, {"writev", C_WRITEV},
    {"pwritev", C_WRITEV}, {"readv", C_READV}, {"preadv", C_READV}, {"sendmsg", C_SENDMSG},
    {"recvmsg", C_RECVMSG}, {"nanosleep", C_TIMESPEC0}, {"clock_nanosleep", C_TIMESPEC2},
    {"poll", C_POLL}, {"ppoll", C_PPOLL}, {"exit", C_NORETURN}, {"exit_group", C_NORETURN},
    {"listen", C_SOCKINFO}, {"getsockname", C_SOCKINFO}, {"getpeername", C_SOCKINFO},
    {"shutdown", C_SOCKINFO}, {"socket", C_SOCKRET}, {"stat", C_PATH0}, {"lstat", C_PATH0}, {"access", C_PATH0},
    {"newfstatat", C_PATH1}, {"unlink", C_PATH0}, {"mkdir", C_PATH0},
};

static FILE *out;
static unsigned long long written_bytes;
static int string_limit = 256;
static unsigned int watched_tgid; /* --pid: whose REC_EXIT ends the recording */
static int target_exited;
static long long target_status;
static unsigned long long target_exit_ns;

static void die(const char *step, int err)
{
    fprintf(stderr, "syscorr-ebpf: %s: %s (errno %d)\n", step, strerror(err), err);
    exit(FAIL_START);
}

static void put_record(unsigned short kind, unsigned short nr, unsigned int pid,
                       const unsigned long long *args, int nargs, const void *blob0,
                       unsigned short len0, const void *blob2, unsigned short len2)
{
    struct rec_header h;
    struct timespec now;
    memset(&h, 0, sizeof(h));
    clock_gettime(CLOCK_MONOTONIC, &now);
    h.kind = kind;
    h.nr = nr;
    h.tgid = h.tid = pid;
    h.ts = (unsigned long long)now.tv_sec * 1000000000ull + now.tv_nsec;
    h.len[0] = len0;
    h.len[2] = len2;
    h.size = sizeof(h) + len0 + len2;
    for (int i = 0; i < nargs && i < 6; i++)
        h.args[i] = args[i];
    fwrite(&h, sizeof(h), 1, out);
    if (len0)
        fwrite(blob0, len0, 1, out);
    if (len2)
        fwrite(blob2, len2, 1, out);
}

static int on_sample(void *ctx, void *data, size_t size)
{
    (void)ctx;
    const struct rec_header *h = data;
    if (watched_tgid && size >= sizeof(*h) && h->kind == REC_EXIT && h->tgid == watched_tgid) {
        target_exited = 1;
        target_status = h->ret;
        target_exit_ns = h->ts;
    }
    fwrite(data, size, 1, out);
    written_bytes += size;
    return 0;
}

static int class_for(const char *name)
{
    for (size_t i = 0; i < sizeof(CLASSES) / sizeof(CLASSES[0]); i++)
        if (strcmp(CLASSES[i].name, name) == 0)
            return CLASSES[i].cls;
    return C_PLAIN;
}

static int wanted(const char *list, const char *name)
{
    if (!list)
        return 1;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (*p == '?') {
            p++;
            len--;
        }
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

/* ---- /proc scan of the fds open when tracing starts ---- */

struct net_entry {
    unsigned long long inode;
    struct sock_info info;
};
static struct net_entry *net_table;
static size_t net_count, net_cap;

static void net_add(const struct sock_info *info)
{
    if (net_count == net_cap) {
        net_cap = net_cap ? net_cap * 2 : 256;
        net_table = realloc(net_table, net_cap * sizeof(*net_table));
        if (!net_table)
            die("memory", ENOMEM);
    }
    net_table[net_count].inode = info->inode;
    net_table[net_count++].info = *info;
}

static void hex_addr(const char *hex, unsigned char *addr, int words)
{
    for (int w = 0; w < words; w++) {
        char part[9] = {0};
        memcpy(part, hex + w * 8, 8);
        uint32_t v = strtoul(part, NULL, 16);
        memcpy(addr + w * 4, &v, 4);
    }
}

static void read_net(int pid, const char *file, int family, int type, int protocol)
{
    char path[64], line[512], laddr[64], raddr[64];
    snprintf(path, sizeof(path), "/proc/%d/net/%s", pid, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (!fgets(line, sizeof(line), f)) {
        fclose(f);
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        struct sock_info info;
        unsigned int lport, rport, state;
        unsigned long long inode;
        memset(&info, 0, sizeof(info));
        if (sscanf(line, " %*d: %63[0-9A-Fa-f]:%x %63[0-9A-Fa-f]:%x %x %*s %*s %*s %*d %*d %llu",
                   laddr, &lport, raddr, &rport, &state, &inode) != 6)
            continue;
        info.family = family;
        info.type = type;
        info.protocol = protocol;
        info.state = state;
        info.lport = lport;
        info.rport = rport;
        info.inode = inode;
        hex_addr(laddr, info.laddr, family == AF_INET ? 1 : 4);
        hex_addr(raddr, info.raddr, family == AF_INET ? 1 : 4);
        net_add(&info);
    }
    fclose(f);
}

static void read_unix(int pid)
{
    char path[64], line[4352];
    snprintf(path, sizeof(path), "/proc/%d/net/unix", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (!fgets(line, sizeof(line), f)) {
        fclose(f);
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        struct sock_info info;
        unsigned int type, state;
        unsigned long long inode;
        memset(&info, 0, sizeof(info));
        if (sscanf(line, "%*s %*s %*s %*s %x %x %llu", &type, &state, &inode) != 3)
            continue;
        info.family = AF_UNIX;
        info.type = type;
        info.state = state;
        info.inode = inode;
        net_add(&info);
    }
    fclose(f);
}

static void scan_fds(int pid)
{
    char dir[64], link[PATH_MAX + 64], target[PATH_MAX];
    net_count = 0;
    read_net(pid, "tcp", AF_INET, SOCK_STREAM, 6);
    read_net(pid, "tcp6", AF_INET6, SOCK_STREAM, 6);
    read_net(pid, "udp", AF_INET, SOCK_DGRAM, 17);
    read_net(pid, "udp6", AF_INET6, SOCK_DGRAM, 17);
    read_unix(pid);
    snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n < 0)
            continue;
        target[n] = 0;
        unsigned long long args[2] = {strtoull(e->d_name, NULL, 10), 0};
        const struct sock_info *info = NULL;
        if (sscanf(target, "socket:[%llu]", &args[1]) == 1) {
            for (size_t i = 0; i < net_count; i++)
                if (net_table[i].inode == args[1])
                    info = &net_table[i].info;
        }
        put_record(REC_FDINFO, 0, (unsigned)pid, args, 2, target, n, info,
                   info ? sizeof(struct sock_info) : 0);
    }
    closedir(d);
}

/* ---- main ---- */

static void clock_pair(unsigned long long *real, unsigned long long *mono)
{
    struct timespec r, m;
    clock_gettime(CLOCK_REALTIME, &r);
    clock_gettime(CLOCK_MONOTONIC, &m);
    *real = (unsigned long long)r.tv_sec * 1000000000ull + r.tv_nsec;
    *mono = (unsigned long long)m.tv_sec * 1000000000ull + m.tv_nsec;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
    if (level == LIBBPF_WARN && getenv("SYSCORR_EBPF_DEBUG"))
        return vfprintf(stderr, fmt, args);
    if (level == LIBBPF_DEBUG && getenv("SYSCORR_EBPF_DEBUG"))
        return vfprintf(stderr, fmt, args);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: syscorr-ebpf --out LOG [--stats JSON] [--string-limit N] "
                    "[--ring-mb N] [--syscalls LIST|--all] (-- CMD ARGS | --pid PID "
                    "[--duration S])\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *out_path = NULL, *stats_path = NULL, *syscalls = NULL;
    int ring_mb = 16, attach_pid = 0, all = 0, check_only = 0;
    double duration = 0;
    char **cmd = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            cmd = &argv[i + 1];
            break;
        } else if (strcmp(a, "--all") == 0) {
            all = 1;
        } else if (strcmp(a, "--check") == 0) {
            check_only = 1;
        } else if (i + 1 < argc && strcmp(a, "--out") == 0) {
            out_path = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--stats") == 0) {
            stats_path = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--syscalls") == 0) {
            syscalls = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--string-limit") == 0) {
            string_limit = atoi(argv[++i]);
        } else if (i + 1 < argc && strcmp(a, "--ring-mb") == 0) {
            ring_mb = atoi(argv[++i]);
        } else if (i + 1 < argc && strcmp(a, "--pid") == 0) {
            attach_pid = atoi(argv[++i]);
        } else if (i + 1 < argc && strcmp(a, "--duration") == 0) {
            duration = atof(argv[++i]);
        } else {
            usage();
        }
    }
    if (all)
        syscalls = NULL;
    if (!check_only && (!out_path || (!attach_pid && (!cmd || !cmd[0]))))
        usage();
    if (string_limit < 0)
        string_limit = 0;
    if (string_limit > DATA_MAX)
        string_limit = DATA_MAX;
    if (ring_mb < 1 || (ring_mb & (ring_mb - 1)))
        ring_mb = 16;

    libbpf_set_print(libbpf_quiet);
    struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
    setrlimit(RLIMIT_MEMLOCK, &unlimited); /* kernels before 5.11 charge maps to memlock */

    struct syscorr_bpf *skel = syscorr_bpf__open();
    if (!skel)
        die("open BPF object", errno);
    skel->rodata->string_limit = string_limit;
    skel->rodata->wake_bytes = (unsigned long long)ring_mb << 18; /* a quarter */
    if (bpf_map__set_max_entries(skel->maps.events, (unsigned)ring_mb << 20))
        die("size ring buffer", errno);
    if (syscorr_bpf__load(skel)) {
        int err = errno;
        if (err == EPERM)
            die("load BPF programs (not permitted: needs root, or CAP_BPF and CAP_PERFMON)", err);
        die("load BPF programs (the kernel refused them; SYSCORR_EBPF_DEBUG=1 shows its log)", err);
    }
    if (syscorr_bpf__attach(skel))
        die("attach raw tracepoints", errno);
    if (check_only) {
        puts("ok");
        return 0;
    }

    out = fopen(out_path, "wb");
    if (!out)
        die(out_path, errno);
    setvbuf(out, NULL, _IOFBF, 1 << 20);
    struct log_header lh;
    memset(&lh, 0, sizeof(lh));
    memcpy(lh.magic, LOG_MAGIC, sizeof(lh.magic));
    lh.version = LOG_VERSION;
    lh.header_size = sizeof(struct rec_header);
    lh.string_limit = string_limit;
    lh.ring_bytes = (unsigned)ring_mb << 20;
    fwrite(&lh, sizeof(lh), 1, out);

    int cfd = bpf_map__fd(skel->maps.classes);
    for (size_t i = 0; i < sizeof(SYSCALLS) / sizeof(SYSCALLS[0]); i++) {
        if (!wanted(syscalls, SYSCALLS[i].name) || SYSCALLS[i].nr >= 1024)
            continue;
        unsigned int nr = SYSCALLS[i].nr;
        unsigned char cls = class_for(SYSCALLS[i].name);
        if (bpf_map_update_elem(cfd, &nr, &cls, BPF_ANY))
            die("fill syscall map", errno);
        unsigned long long args[1] = {nr};
        put_record(REC_NAME, nr, 0, args, 1, SYSCALLS[i].name, strlen(SYSCALLS[i].name), NULL, 0);
    }

    sigset_t fatal, old;
    sigemptyset(&fatal);
    sigaddset(&fatal, SIGINT);
    sigaddset(&fatal, SIGTERM);
    sigaddset(&fatal, SIGHUP);
    sigaddset(&fatal, SIGQUIT);
    sigaddset(&fatal, SIGPIPE);
    sigset_t blocked = fatal, chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigaddset(&blocked, SIGCHLD);
    sigprocmask(SIG_BLOCK, &blocked, &old); /* the target gets `old` back before its execve */

    int go[2] = {-1, -1};
    pid_t child = attach_pid;
    if (!attach_pid) {
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        if (pipe2(go, O_CLOEXEC))
            die("pipe", errno);
        fflush(out);
        child = fork();
        if (child < 0)
            die("fork", errno);
        if (child == 0) {
            char byte;
            close(go[1]);
            sigprocmask(SIG_SETMASK, &old, NULL);
            if (read(go[0], &byte, 1) != 1)
                _exit(FAIL_START); /* the loader died before tracing was armed */
            execvp(cmd[0], cmd);
            fprintf(stderr, "syscorr-ebpf: cannot run %s: %s\n", cmd[0], strerror(errno));
            _exit(errno == ENOENT ? 127 : 126);
        }
        close(go[0]);
    }
    int pidfd = -1;
    if (attach_pid) {
        pidfd = (int)syscall(SYS_pidfd_open, attach_pid, 0);
        if (pidfd < 0 && errno != ENOSYS)
            die("attach: pidfd_open (no such process?)", errno);
        if (pidfd < 0 && kill(attach_pid, 0) != 0) /* kernels before 5.3: polled below */
            die("attach: no such process", errno);
        watched_tgid = attach_pid;
    }
    unsigned int tgid = child;
    unsigned char one = 1;
    if (bpf_map_update_elem(bpf_map__fd(skel->maps.tracked), &tgid, &one, BPF_ANY))
        die("track target", errno);
    scan_fds(child);
    unsigned long long clocks[4];
    clock_pair(&clocks[0], &clocks[1]);
    struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_sample, NULL,
                                              NULL);
    if (!rb)
        die("ring buffer", errno);
    fflush(out);
    if (!attach_pid) {
        if (write(go[1], "g", 1) != 1)
            die("release target", errno);
        close(go[1]);
    }

    int status = 0, root_done = 0;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    const char *stall = getenv("SYSCORR_EBPF_TEST_STALL_MS"); /* test hook: a slow consumer */
    if (stall && atoi(stall) > 0)
        usleep((useconds_t)atoi(stall) * 1000);
    /* One epoll set: the ring buffer's own epoll fd, the signals that end us, the target. */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int sfd = signalfd(-1, attach_pid ? &fatal : &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (ep < 0 || sfd < 0)
        die("epoll/signalfd", errno);
    struct epoll_event ev = {.events = EPOLLIN};
    int watch[3] = {ring_buffer__epoll_fd(rb), sfd, pidfd};
    for (int i = 0; i < 3; i++) {
        ev.data.fd = watch[i];
        if (watch[i] >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, watch[i], &ev) != 0)
            die("epoll_ctl", errno);
    }
    for (;;) {
        int timeout = 50; /* the drain interval: records are written without a wakeup */
        if (attach_pid && duration > 0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            double left = duration - ((now.tv_sec - start.tv_sec) +
                                      (now.tv_nsec - start.tv_nsec) / 1e9);
            if (left <= 0)
                break; /* time is up */
            if (left * 1000 < timeout)
                timeout = (int)(left * 1000) + 1;
        }
        struct epoll_event got[4];
        int n = epoll_wait(ep, got, 4, timeout);
        if (n < 0 && errno != EINTR)
            die("epoll_wait", errno);
        ring_buffer__consume(rb);
        int stop = 0;
        for (int i = 0; i < n; i++) {
            if (got[i].data.fd == sfd) {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof(si)) == sizeof(si))
                    if (attach_pid)
                        stop = 1; /* told to stop */
            } else if (got[i].data.fd == pidfd) {
                stop = 1; /* the target exited */
            }
        }
        if (attach_pid) {
            if (stop || (pidfd < 0 && kill(attach_pid, 0) != 0))
                break;
            continue;
        }
        for (;;) {
            int st;
            pid_t got = waitpid(-1, &st, WNOHANG);
            if (got == child) {
                status = st;
                root_done = 1;
            }
            if (got <= 0)
                break;
        }
        if (root_done && waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
            break;
    }
    ring_buffer__consume(rb);

    int ncpu = libbpf_num_possible_cpus();
    if (ncpu < 1)
        ncpu = 1;
    if (ncpu > MAX_CPUS)
        ncpu = MAX_CPUS;
    unsigned long long *counts = calloc((size_t)ncpu * 3, sizeof(*counts));
    unsigned long long *values = calloc((size_t)ncpu, sizeof(*values));
    int kfd = bpf_map__fd(skel->maps.counters);
    for (unsigned int which = 0; which < 3 && counts && values; which++) {
        if (bpf_map_lookup_elem(kfd, &which, values) == 0)
            memcpy(counts + which * ncpu, values, ncpu * sizeof(*values));
    }
    clock_pair(&clocks[2], &clocks[3]);
    put_record(REC_CLOCKS, 0, 0, clocks, 4, NULL, 0, NULL, 0);
    unsigned long long sargs[1] = {(unsigned long long)ncpu};
    put_record(REC_STATS, 0, 0, sargs, 1, counts, ncpu * 3 * sizeof(*counts), NULL, 0);
    fclose(out);

    if (stats_path) {
        int sfd = open(stats_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        FILE *s = sfd >= 0 ? fdopen(sfd, "w") : NULL;
        if (s) {
            const char *names[3] = {"lost", "written", "no_slot"};
            fprintf(s, "{\"cpus\": %d, \"ring_bytes\": %u, \"log_bytes\": %llu", ncpu,
                    (unsigned)ring_mb << 20, written_bytes);
            for (int w = 0; w < 3; w++) {
                fprintf(s, ", \"%s_per_cpu\": [", names[w]);
                for (int c = 0; c < ncpu; c++)
                    fprintf(s, "%s%llu", c ? ", " : "", counts ? counts[w * ncpu + c] : 0);
                fprintf(s, "]");
            }
            fprintf(s, ", \"clocks\": {\"armed\": {\"realtime_ns\": %llu, \"monotonic_ns\": %llu}"
                       ", \"end\": {\"realtime_ns\": %llu, \"monotonic_ns\": %llu}}",
                    clocks[0], clocks[1], clocks[2], clocks[3]);
            if (target_exited)
                fprintf(s, ", \"target_exit\": {\"status\": %lld, \"monotonic_ns\": %llu}",
                        target_status, target_exit_ns);
            fprintf(s, "}\n");
            fclose(s);
        }
    }
    ring_buffer__free(rb);
    syscorr_bpf__destroy(skel);

    if (attach_pid)
        return 0;
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        signal(sig, SIG_DFL);
        sigset_t only;
        sigemptyset(&only);
        sigaddset(&only, sig);
        sigprocmask(SIG_UNBLOCK, &only, NULL);
        if (sig == SIGSEGV || sig == SIGABRT || sig == SIGBUS || sig == SIGQUIT) {
            struct rlimit none = {0, 0};
            setrlimit(RLIMIT_CORE, &none);
        }
        kill(getpid(), sig);
        return 128 + sig;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
