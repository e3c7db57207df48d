// SPDX-License-Identifier: GPL-2.0
/* syscorr's in-kernel recorder: the syscalls of one process tree, into a BPF ring buffer.
 *
 * Contract: raw tracepoints only (no kprobes). `tracked` holds the thread-group ids to record;
 * the loader seeds it with the target and sched_process_fork adds every child of a tracked
 * process (the tracepoint fires before the child first runs: no race). sys_enter keeps the
 * entry (time, number, arguments) of a traced call per thread; sys_exit writes one record with
 * both ends and the user memory the call's class names (see record.h). exit/exit_group are
 * written at entry. A fork writes REC_FORK before the child runs (its fds are its parent's: a
 * vfork child's dup2 comes before the parent's vfork returns); an execve by a thread other
 * than the leader writes REC_EXEC and its pending entry follows the thread to its new id, so
 * the call is written whole, under the tid that made it. Records go out with BPF_RB_NO_WAKEUP; the consumer is woken only when the
 * ring is more than a quarter full (it also drains on a timer). A record that does not fit is
 * counted in `counters[CNT_LOST]` per CPU: nothing is lost silently.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "record.h"

char LICENSE[] SEC("license") = "GPL";

/* libbpf 1.1 (Debian 12) names syscall arguments 1-5 only. */
#if defined(__TARGET_ARCH_x86)
#define SYSCALL_ARG6(regs) BPF_CORE_READ(regs, r9)
#elif defined(__TARGET_ARCH_arm64)
#define SYSCALL_ARG6(regs) BPF_CORE_READ((struct user_pt_regs *)(regs), regs[5])
#else
#define SYSCALL_ARG6(regs) 0
#endif

#define CNT_LOST 0
#define CNT_WRITTEN 1
#define CNT_NO_SLOT 2
#define S_IFMT 00170000
#define S_IFSOCK 0140000

const volatile __u32 string_limit = 256;
const volatile __u32 max_array = 128; /* epoll/poll entries kept per call */
const volatile __u64 wake_bytes = 1 << 20;

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 8 << 20);
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u32);
    __type(value, __u8);
} tracked SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1024);
    __type(key, __u32);
    __type(value, __u8);
} classes SEC(".maps");

struct pending {
    __u64 ts;
    __u64 args[6];
    __u32 nr;
    __u32 cls;
    __u32 tid; /* the thread that made the call (an execve may change its id) */
    __u32 pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 32768);
    __type(key, __u32);
    __type(value, struct pending);
} inflight SEC(".maps");

struct scratch {
    struct rec_header h;
    __u8 blobs[DATA_MAX * 2 + ADDR_MAX + sizeof(struct sock_info)];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct scratch);
} scratch_map SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 which)
{
    __u64 *c = bpf_map_lookup_elem(&counters, &which);
    if (c)
        *c += 1;
}

/* Clamp in a register the verifier sees: the compiler may otherwise pass the unclamped copy. */
#define BOUND(var, mask) asm volatile("%[v] &= %[m]" : [v] "+r"(var) : [m] "i"(mask))

static __always_inline int is_tracked(__u32 tgid)
{
    return bpf_map_lookup_elem(&tracked, &tgid) != NULL;
}

/* Append up to `len` bytes of user memory at `src` as blob `which`; returns bytes kept. */
static __always_inline __u32 put_user(struct scratch *s, __u32 off, __u32 len, const void *src,
                                      __u32 cap)
{
    if (len > cap)
        len = cap;
    if (off > DATA_MAX + ADDR_MAX)
        return 0;
    if (len == 0)
        return 0;
    __u64 n = len - 1;
    BOUND(n, DATA_MAX - 1);
    BOUND(off, DATA_MAX * 2 - 1);
    if (bpf_probe_read_user(&s->blobs[off], n + 1, src) != 0) {
        s->h.flags |= F_FAULT;
        return 0;
    }
    return len;
}

static __always_inline __u32 put_sockaddr(struct scratch *s, __u32 off, const void *addr, __u32 len)
{
    if (!addr || len == 0)
        return 0;
    if (len > ADDR_MAX)
        len = ADDR_MAX;
    if (off > DATA_MAX)
        return 0;
    __u64 n = len - 1;
    BOUND(n, ADDR_MAX - 1);
    BOUND(off, DATA_MAX * 2 - 1);
    if (bpf_probe_read_user(&s->blobs[off], n + 1, addr) != 0)
        return 0;
    return len;
}

/* The struct sock behind fd `fd` of the current task, read through the fd table. */
static __always_inline __u32 put_sockinfo(struct scratch *s, __u32 off, long fd)
{
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
    unsigned int max = BPF_CORE_READ(task, files, fdt, max_fds);
    struct file *file = NULL;
    if (fd < 0 || fd >= max || off > DATA_MAX + ADDR_MAX)
        return 0;
    BOUND(off, DATA_MAX * 2 - 1);
    bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
    if (!file)
        return 0;
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    umode_t mode = BPF_CORE_READ(inode, i_mode);
    if ((mode & S_IFMT) != S_IFSOCK)
        return 0;
    struct socket *sock = BPF_CORE_READ(file, private_data);
    struct sock *sk = BPF_CORE_READ(sock, sk);
    struct sock_info *info = (struct sock_info *)&s->blobs[off];
    __builtin_memset(info, 0, sizeof(*info));
    info->family = BPF_CORE_READ(sk, __sk_common.skc_family);
    info->type = BPF_CORE_READ(sock, type);
    info->protocol = BPF_CORE_READ(sk, sk_protocol);
    info->state = BPF_CORE_READ(sk, __sk_common.skc_state);
    info->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
    info->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
    info->inode = BPF_CORE_READ(inode, i_ino);
    if (info->family == 2) {
        __u32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
        __u32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
        __builtin_memcpy(info->laddr, &l, 4);
        __builtin_memcpy(info->raddr, &r, 4);
    } else if (info->family == 10) {
        BPF_CORE_READ_INTO(&info->laddr, sk, __sk_common.skc_v6_rcv_saddr);
        BPF_CORE_READ_INTO(&info->raddr, sk, __sk_common.skc_v6_daddr);
    }
    return sizeof(*info);
}

static __always_inline void submit(struct scratch *s)
{
    __u32 size = sizeof(struct rec_header) + s->h.len[0] + s->h.len[1] + s->h.len[2];
    s->h.size = size;
    __u64 flags = BPF_RB_NO_WAKEUP;
    if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > wake_bytes)
        flags = BPF_RB_FORCE_WAKEUP;
    if (size > sizeof(struct scratch))
        return;
    if (bpf_ringbuf_output(&events, s, size, flags) != 0)
        count(CNT_LOST);
    else
        count(CNT_WRITTEN);
}

static __always_inline struct scratch *begin(__u16 kind, __u32 nr, __u64 id)
{
    __u32 zero = 0;
    struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
    if (!s)
        return NULL;
    s->h.kind = kind;
    s->h.nr = nr;
    s->h.tgid = id >> 32;
    s->h.tid = (__u32)id;
    s->h.flags = 0;
    s->h.len[0] = s->h.len[1] = s->h.len[2] = 0;
    s->h.dur = 0;
    s->h.ret = 0;
    __builtin_memset(s->h.args, 0, sizeof(s->h.args));
    return s;
}

SEC("raw_tp/sys_enter")
int on_enter(struct bpf_raw_tracepoint_args *ctx)
{
    __u64 id = bpf_get_current_pid_tgid();
    if (!is_tracked(id >> 32))
        return 0;
    __u32 nr = ctx->args[1];
    __u8 *cls = bpf_map_lookup_elem(&classes, &nr);
    if (!cls || !*cls)
        return 0;
    struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
    struct pending p = {};
    p.ts = bpf_ktime_get_ns();
    p.nr = nr;
    p.cls = *cls;
    p.tid = (__u32)id;
    p.args[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
    p.args[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
    p.args[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
    p.args[3] = PT_REGS_PARM4_CORE_SYSCALL(regs);
    p.args[4] = PT_REGS_PARM5_CORE_SYSCALL(regs);
    p.args[5] = SYSCALL_ARG6(regs);
    if (p.cls == C_NORETURN) {
        struct scratch *s = begin(REC_SYSCALL, nr, id);
        if (!s)
            return 0;
        s->h.ts = p.ts;
        s->h.flags = F_UNFINISHED;
        __builtin_memcpy(s->h.args, p.args, sizeof(p.args));
        submit(s);
        return 0;
    }
    if (p.cls == C_EXEC || p.cls == C_EXECAT) {
        struct scratch *s = begin(REC_SYSCALL, nr, id);
        if (s) {
            const char *path = (const char *)(p.cls == C_EXEC ? p.args[0] : p.args[1]);
            long got = bpf_probe_read_user_str(&s->blobs[0], 4096, path);
            s->h.len[0] = got > 1 ? got - 1 : 0;
            s->h.ts = p.ts;
            s->h.flags = F_ENTRY;
            submit(s);
        }
    }
    __u32 tid = (__u32)id;
    if (bpf_map_update_elem(&inflight, &tid, &p, BPF_ANY) != 0)
        count(CNT_NO_SLOT);
    return 0;
}

static __always_inline __u32 ret_bytes(long ret, __u64 want)
{
    if (ret <= 0)
        return 0;
    return (__u64)ret < want ? (__u32)ret : (__u32)want;
}

static __always_inline void fill(struct scratch *s, struct pending *p, long ret)
{
    __u64 *a = p->args;
    __u32 n, len;
    __u32 lim = string_limit;
    struct iovec iov = {};
    struct user_msghdr msg = {};
    switch (p->cls) {
    case C_WRITE:
        s->h.len[0] = put_user(s, 0, a[2], (void *)a[1], lim);
        if (a[2] > s->h.len[0])
            s->h.flags |= F_TRUNCATED;
        break;
    case C_READ:
        n = ret_bytes(ret, a[2]);
        s->h.len[0] = put_user(s, 0, n, (void *)a[1], lim);
        if (n > s->h.len[0])
            s->h.flags |= F_TRUNCATED;
        break;
    case C_SENDTO:
        s->h.len[0] = put_user(s, 0, a[2], (void *)a[1], lim);
        if (a[2] > s->h.len[0])
            s->h.flags |= F_TRUNCATED;
        s->h.len[1] = put_sockaddr(s, s->h.len[0], (void *)a[4], a[5]);
        break;
    case C_RECVFROM:
        n = ret_bytes(ret, a[2]);
        s->h.len[0] = put_user(s, 0, n, (void *)a[1], lim);
        if (n > s->h.len[0])
            s->h.flags |= F_TRUNCATED;
        if (a[4] && a[5] && ret >= 0) {
            len = 0;
            bpf_probe_read_user(&len, sizeof(len), (void *)a[5]);
            s->h.len[1] = put_sockaddr(s, s->h.len[0], (void *)a[4], len);
        }
        break;
    case C_CONNECT:
        s->h.len[1] = put_sockaddr(s, 0, (void *)a[1], a[2]);
        s->h.len[2] = put_sockinfo(s, s->h.len[1], a[0]);
        break;
    case C_ACCEPT:
        if (a[1] && a[2] && ret >= 0) {
            len = 0;
            bpf_probe_read_user(&len, sizeof(len), (void *)a[2]);
            s->h.len[1] = put_sockaddr(s, 0, (void *)a[1], len);
        }
        if (ret >= 0)
            s->h.len[2] = put_sockinfo(s, s->h.len[1], ret);
        break;
    case C_SOCKINFO:
        s->h.len[2] = put_sockinfo(s, 0, a[0]);
        break;
    case C_SOCKRET:
        if (ret >= 0)
            s->h.len[2] = put_sockinfo(s, 0, ret);
        break;
    case C_PATH0:
    case C_PATH1: {
        const char *path = (const char *)(p->cls == C_PATH0 ? a[0] : a[1]);
        long got = bpf_probe_read_user_str(&s->blobs[0], 4096, path);
        s->h.len[0] = got > 1 ? got - 1 : 0;
        break;
    }
    case C_EPOLL:
    case C_EPOLL2:
        n = ret > 0 ? (ret < max_array ? ret : max_array) : 0;
        s->h.len[0] = put_user(s, 0, n * 12, (void *)a[1], DATA_MAX);
        if (p->cls == C_EPOLL2 && a[4])
            s->h.len[1] = put_sockaddr(s, s->h.len[0], (void *)a[4], 16);
        break;
    case C_EPOLL_CTL:
        if (a[3])
            s->h.len[0] = put_user(s, 0, 12, (void *)a[3], 12);
        break;
    case C_PIPE:
    case C_SOCKETPAIR:
        if (ret == 0)
            s->h.len[0] = put_user(s, 0, 8, (void *)(p->cls == C_PIPE ? a[0] : a[3]), 8);
        break;
    case C_CLONE3:
        s->h.len[0] = put_user(s, 0, 64, (void *)a[0], a[1] < 64 ? a[1] : 64);
        break;
    case C_WRITEV:
    case C_READV:
    case C_SENDMSG:
    case C_RECVMSG: {
        void *iovp = (void *)a[1];
        if (p->cls == C_SENDMSG || p->cls == C_RECVMSG) {
            if (bpf_probe_read_user(&msg, sizeof(msg), (void *)a[1]) != 0)
                break;
            iovp = msg.msg_iov;
            if (!msg.msg_iovlen)
                iovp = NULL;
        } else if (!a[2]) {
            iovp = NULL;
        }
        if (!iovp || bpf_probe_read_user(&iov, sizeof(iov), iovp) != 0)
            break;
        n = iov.iov_len;
        if (p->cls == C_READV || p->cls == C_RECVMSG)
            n = ret_bytes(ret, iov.iov_len);
        s->h.len[0] = put_user(s, 0, n, iov.iov_base, lim);
        if (n > s->h.len[0])
            s->h.flags |= F_TRUNCATED;
        if ((p->cls == C_SENDMSG || (p->cls == C_RECVMSG && ret >= 0)) && msg.msg_name)
            s->h.len[1] = put_sockaddr(s, s->h.len[0], msg.msg_name, msg.msg_namelen);
        break;
    }
    case C_TIMESPEC0:
        if (a[0])
            s->h.len[0] = put_user(s, 0, 16, (void *)a[0], 16);
        break;
    case C_TIMESPEC2:
        if (a[2])
            s->h.len[0] = put_user(s, 0, 16, (void *)a[2], 16);
        break;
    case C_POLL:
    case C_PPOLL:
        n = a[1] < max_array ? a[1] : max_array;
        s->h.len[0] = put_user(s, 0, n * 8, (void *)a[0], DATA_MAX);
        if (p->cls == C_PPOLL && a[2])
            s->h.len[1] = put_sockaddr(s, s->h.len[0], (void *)a[2], 16);
        break;
    }
}

SEC("raw_tp/sys_exit")
int on_exit(struct bpf_raw_tracepoint_args *ctx)
{
    __u64 id = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)id;
    struct pending *p = bpf_map_lookup_elem(&inflight, &tid);
    if (!p)
        return 0;
    long ret = ctx->args[1];
    struct scratch *s = begin(REC_SYSCALL, p->nr, id);
    if (s) {
        s->h.tid = p->tid;
        s->h.ts = p->ts;
        s->h.dur = bpf_ktime_get_ns() - p->ts;
        s->h.ret = ret;
        __builtin_memcpy(s->h.args, p->args, sizeof(p->args));
        fill(s, p, ret);
        submit(s);
    }
    bpf_map_delete_elem(&inflight, &tid);
    return 0;
}

SEC("raw_tp/sched_process_fork")
int on_fork(struct bpf_raw_tracepoint_args *ctx)
{
    struct task_struct *parent = (struct task_struct *)ctx->args[0];
    struct task_struct *child = (struct task_struct *)ctx->args[1];
    __u32 ptgid = BPF_CORE_READ(parent, tgid);
    if (!is_tracked(ptgid))
        return 0;
    __u32 ctgid = BPF_CORE_READ(child, tgid);
    __u8 one = 1;
    bpf_map_update_elem(&tracked, &ctgid, &one, BPF_ANY);
    struct scratch *s = begin(REC_FORK, 0, bpf_get_current_pid_tgid());
    if (s) {
        s->h.ts = bpf_ktime_get_ns();
        s->h.args[0] = ctgid;
        s->h.args[1] = BPF_CORE_READ(child, pid);
        s->h.args[2] = BPF_CORE_READ(child, files) == BPF_CORE_READ(parent, files);
        submit(s);
    }
    return 0;
}

SEC("raw_tp/sched_process_exec")
int on_exec(struct bpf_raw_tracepoint_args *ctx)
{
    __u64 id = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)id;
    __u32 old = (__u32)ctx->args[1];
    if (old == tid || !is_tracked(id >> 32))
        return 0;
    /* de_thread made this thread the leader: its execve's entry is under its old id */
    struct pending *p = bpf_map_lookup_elem(&inflight, &old);
    if (p) {
        struct pending moved = *p;
        bpf_map_delete_elem(&inflight, &old);
        if (bpf_map_update_elem(&inflight, &tid, &moved, BPF_ANY) != 0)
            count(CNT_NO_SLOT);
    }
    struct scratch *s = begin(REC_EXEC, 0, id);
    if (s) {
        s->h.ts = bpf_ktime_get_ns();
        s->h.args[0] = old;
        submit(s);
    }
    return 0;
}

SEC("raw_tp/sched_process_exit")
int on_task_exit(struct bpf_raw_tracepoint_args *ctx)
{
    struct task_struct *task = (struct task_struct *)ctx->args[0];
    __u64 id = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)id;
    struct pending *p = bpf_map_lookup_elem(&inflight, &tid);
    if (p) { /* the thread dies inside a call (killed in epoll_wait, say): write it unfinished */
        struct scratch *s = begin(REC_SYSCALL, p->nr, id);
        if (s) {
            s->h.tid = p->tid;
            s->h.ts = p->ts;
            s->h.flags = F_UNFINISHED;
            __builtin_memcpy(s->h.args, p->args, sizeof(p->args));
            submit(s);
        }
        bpf_map_delete_elem(&inflight, &tid);
    }
    if (!is_tracked(id >> 32))
        return 0;
    if (BPF_CORE_READ(task, signal, live.counter) != 0)
        return 0; /* other threads of the group live on */
    struct scratch *s = begin(REC_EXIT, 0, id);
    if (s) {
        s->h.ts = bpf_ktime_get_ns();
        s->h.ret = BPF_CORE_READ(task, signal, group_exit_code) ?: BPF_CORE_READ(task, exit_code);
        submit(s);
    }
    __u32 tgid = id >> 32;
    bpf_map_delete_elem(&tracked, &tgid);
    return 0;
}
