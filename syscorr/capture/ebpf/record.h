/* The binary records syscorr's eBPF program writes and syscorr/parse/ebpf.py reads.
 *
 * A log is a file header (struct log_header) followed by records. Every record starts with a
 * struct rec_header whose `size` is the whole record (header and blobs); blobs follow the header
 * in order: blob 0 (payload bytes, a path, epoll/poll arrays, an fd pair, a timespec, clone3
 * flags), blob 1 (a struct sockaddr as the program passed it), blob 2 (a struct sock_info the
 * kernel gave for the socket). All integers are little-endian host order (the loader and the
 * parser run on the traced machine). Change the layout only together with the parser and
 * LOG_VERSION.
 */
#ifndef SYSCORR_RECORD_H
#define SYSCORR_RECORD_H

#define LOG_MAGIC "SYSCORR-EBPF\0\0\0\0"
#define LOG_VERSION 2 /* 2: REC_FORK, REC_EXEC, REC_FDINFO carries the pid it scanned */

/* rec_header.kind */
#define REC_SYSCALL 1 /* one syscall, entry and exit */
#define REC_EXIT 2    /* a process (thread group) ended: ret = exit status as wait(2) gives it */
#define REC_FDINFO 3  /* an fd open when tracing started: tgid = its process, args[0] = fd,
                        blob 0 = readlink text, blob 2 = sock_info of a socket */
#define REC_NAME 4    /* nr -> syscall name table: nr, blob 0 = name */
#define REC_STATS 5   /* at the end: args[0] = cpus, blob 0 = u64 lost[cpus], u64 written[cpus] */
#define REC_CLOCKS 6  /* args[0..3] = realtime, monotonic at arming; realtime, monotonic at end */
#define REC_FORK 7    /* tgid/tid created a task (before it first runs, so before any of its
                         records): args[0] = its tgid (= tgid for a thread), args[1] = its tid,
                         args[2] = 1 when it shares the creator's fd table (CLONE_FILES) */
#define REC_EXEC 8    /* a thread other than the leader execve'd: the kernel gave it the group's
                         id (tgid = tid = the leader's); args[0] = the tid it called execve
                         with. The execve's own record keeps that old tid. */

/* rec_header.flags */
#define F_UNFINISHED 1 /* no exit seen (exit, exit_group, or the thread died in the call) */
#define F_TRUNCATED 2  /* blob 0 holds fewer bytes than the call moved (string limit) */
#define F_FAULT 4      /* user memory could not be read */
#define F_ENTRY 8      /* written at entry (execve's path: gone from memory once it succeeds) */

/* Syscall classes: how the program reads a call's memory (the loader sets one per number). */
#define C_PLAIN 1
#define C_WRITE 2       /* buf=arg1 count=arg2 */
#define C_READ 3        /* buf=arg1, bytes = ret */
#define C_SENDTO 4      /* buf=arg1 len=arg2, addr=arg4 addrlen=arg5 */
#define C_RECVFROM 5    /* buf=arg1 (ret bytes), addr=arg4 *addrlen=arg5 */
#define C_CONNECT 6     /* addr=arg1 addrlen=arg2, sock_info of arg0 (connect, bind) */
#define C_ACCEPT 7      /* addr=arg1 *addrlen=arg2, sock_info of the returned fd */
#define C_PATH0 8       /* path=arg0 */
#define C_PATH1 9       /* path=arg1 */
#define C_EPOLL 10      /* struct epoll_event[ret] at arg1 (epoll_wait, epoll_pwait) */
#define C_EPOLL2 11     /* as C_EPOLL, timespec at arg4 in blob 1 (epoll_pwait2) */
#define C_PIPE 12       /* int[2] at arg0 */
#define C_SOCKETPAIR 13 /* int[2] at arg3 */
#define C_CLONE3 14     /* struct clone_args (first 64 bytes) at arg0 */
#define C_WRITEV 15     /* iov=arg1: first iovec's bytes */
#define C_READV 16      /* iov=arg1: first iovec's bytes, up to ret */
#define C_SENDMSG 17    /* msghdr=arg1: name, first iovec's bytes */
#define C_RECVMSG 18    /* msghdr=arg1: name, first iovec's bytes up to ret */
#define C_TIMESPEC0 19  /* struct timespec at arg0 (nanosleep) */
#define C_TIMESPEC2 20  /* struct timespec at arg2 (clock_nanosleep, ppoll) */
#define C_POLL 21       /* struct pollfd[arg1] at arg0 */
#define C_NORETURN 22   /* exit, exit_group: written at entry */
#define C_SOCKINFO 23   /* sock_info of arg0 (listen, getsockname, getpeername, shutdown) */
#define C_EPOLL_CTL 24  /* struct epoll_event at arg3 */
#define C_EXEC 25       /* path=arg0 (execve) */
#define C_EXECAT 26     /* path=arg1 (execveat) */
#define C_PPOLL 27      /* pollfd[arg1] at arg0 and timespec at arg2 in blob 1 */
#define C_SOCKRET 28    /* sock_info of the returned fd (socket) */

#define DATA_MAX 8192 /* the most payload bytes one record holds (a power of two) */
#define ADDR_MAX 128  /* sizeof(struct sockaddr_storage) */
#define MAX_CPUS 512

struct log_header {
    char magic[16];
    unsigned int version;
    unsigned int header_size; /* sizeof(struct rec_header) */
    unsigned int string_limit;
    unsigned int ring_bytes;
};

struct rec_header {
    unsigned short kind;
    unsigned short nr;
    unsigned int size; /* of the whole record */
    unsigned int tgid;
    unsigned int tid;
    unsigned long long ts;  /* CLOCK_MONOTONIC ns at entry */
    unsigned long long dur; /* ns from entry to exit */
    long long ret;
    unsigned long long args[6];
    unsigned short len[3]; /* blob lengths */
    unsigned short flags;
};

struct sock_info {
    unsigned short family;
    unsigned short type;
    unsigned short protocol;
    unsigned short state;
    unsigned short lport; /* host order */
    unsigned short rport; /* host order */
    unsigned int pad;
    unsigned char laddr[16];
    unsigned char raddr[16];
    unsigned long long inode;
};

#endif
