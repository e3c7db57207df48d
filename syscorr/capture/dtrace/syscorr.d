#!/usr/sbin/dtrace -s
/*
 * syscorr's macOS recorder: the syscalls an asyncio program makes, with wall-clock entry
 * stamps, for `syscorr import`. Run as root, starting the program (or attaching to it):
 *
 *   sudo dtrace -q -s syscorr.d -o trace.log -c 'python3 app.py'
 *   sudo dtrace -q -s syscorr.d -o trace.log -p PID
 *   syscorr import trace.log
 *
 * Every process descended from the target is recorded (progenyof). One line per finished call,
 * tab-separated (parsed by syscorr/parse/dtrace.py):
 *   C <walltimestamp at entry, ns> <pid> <tid> <name> <arg0> <arg1> <arg2> <ret> <errno>
 *     <elapsed ns> <detail>
 * where <detail> is `-`, a payload or path (`%S`: non-printable bytes escaped, cut at NUL and
 * at 256 bytes), or for kevent/kevent64 the first four ready events as `ident:filter,...`.
 * `X <walltimestamp> <pid> <tid> <status>` marks a process exit. A `# syscorr-dtrace 1` line
 * comes first. walltimestamp is CLOCK_REALTIME; the agent stamps with the same clock.
 */

#pragma D option quiet
#pragma D option switchrate=20hz
#pragma D option bufsize=32m
#pragma D option dynvarsize=32m
#pragma D option strsize=256

BEGIN
{
    printf("# syscorr-dtrace 1\n");
}

syscall::read:entry, syscall::read_nocancel:entry, syscall::write:entry,
syscall::write_nocancel:entry, syscall::recvfrom:entry, syscall::recvfrom_nocancel:entry,
syscall::sendto:entry, syscall::sendto_nocancel:entry, syscall::recvmsg:entry,
syscall::sendmsg:entry, syscall::readv:entry, syscall::writev:entry, syscall::pread:entry,
syscall::pwrite:entry, syscall::connect:entry, syscall::connect_nocancel:entry,
syscall::bind:entry, syscall::listen:entry, syscall::accept:entry, syscall::accept_nocancel:entry,
syscall::socket:entry, syscall::socketpair:entry, syscall::shutdown:entry, syscall::close:entry,
syscall::close_nocancel:entry, syscall::kevent:entry, syscall::kevent64:entry,
syscall::kevent_qos:entry, syscall::kqueue:entry, syscall::select:entry,
syscall::select_nocancel:entry, syscall::poll:entry, syscall::poll_nocancel:entry,
syscall::pselect:entry, syscall::open:entry, syscall::open_nocancel:entry, syscall::openat:entry,
syscall::pipe:entry, syscall::fork:entry, syscall::vfork:entry, syscall::posix_spawn:entry,
syscall::execve:entry, syscall::wait4:entry, syscall::kill:entry, syscall::__semwait_signal:entry,
syscall::getsockopt:entry, syscall::setsockopt:entry, syscall::fcntl:entry,
syscall::fcntl_nocancel:entry, syscall::dup:entry, syscall::dup2:entry, syscall::ioctl:entry
/progenyof($target)/
{
    self->ts = walltimestamp;
    self->start = timestamp;
    self->a0 = arg0;
    self->a1 = arg1;
    self->a2 = arg2;
    self->a3 = arg3;
}

/* payloads written: the buffer is the caller's at entry and at return */
syscall::write:return, syscall::write_nocancel:return, syscall::sendto:return,
syscall::sendto_nocancel:return, syscall::pwrite:return
/self->start && (int)arg0 > 0/
{
    printf("C\t%d\t%d\t%d\t%s\t%d\t0x%x\t%d\t%d\t%d\t%d\t%S\n", self->ts, pid, tid, probefunc,
        (int)self->a0, self->a1, (int)self->a2, (int)arg0, errno, timestamp - self->start,
        stringof(copyinstr(self->a1, self->a2 < 256 ? self->a2 : 256)));
    self->start = 0;
}

/* payloads read: only the bytes that came in */
syscall::read:return, syscall::read_nocancel:return, syscall::recvfrom:return,
syscall::recvfrom_nocancel:return, syscall::pread:return
/self->start && (int)arg0 > 0/
{
    printf("C\t%d\t%d\t%d\t%s\t%d\t0x%x\t%d\t%d\t%d\t%d\t%S\n", self->ts, pid, tid, probefunc,
        (int)self->a0, self->a1, (int)self->a2, (int)arg0, errno, timestamp - self->start,
        stringof(copyinstr(self->a1, arg0 < 256 ? arg0 : 256)));
    self->start = 0;
}

/* paths */
syscall::open:return, syscall::open_nocancel:return, syscall::execve:return
/self->start/
{
    printf("C\t%d\t%d\t%d\t%s\t0x%x\t%d\t%d\t%d\t%d\t%d\t%S\n", self->ts, pid, tid, probefunc,
        self->a0, (int)self->a1, (int)self->a2, (int)arg0, errno, timestamp - self->start,
        copyinstr(self->a0));
    self->start = 0;
}

syscall::openat:return
/self->start/
{
    printf("C\t%d\t%d\t%d\t%s\t%d\t0x%x\t%d\t%d\t%d\t%d\t%S\n", self->ts, pid, tid, probefunc,
        (int)self->a0, self->a1, (int)self->a2, (int)arg0, errno, timestamp - self->start,
        copyinstr(self->a1));
    self->start = 0;
}

/* kevent: the ready events (struct kevent is 32 bytes, kevent64_s 48): ident and filter */
syscall::kevent:return, syscall::kevent_qos:return
/self->start && (int)arg0 > 0/
{
    this->n = (int)arg0;
    this->ev = (char *)copyin(self->a3, 32 * (this->n < 4 ? this->n : 4));
    printf("C\t%d\t%d\t%d\t%s\t%d\t0x%x\t%d\t%d\t%d\t%d\t%d:%d%s%s%s\n", self->ts, pid, tid,
        probefunc, (int)self->a0, self->a1, (int)self->a2, this->n, errno,
        timestamp - self->start, *(uint64_t *)this->ev, *(int16_t *)(this->ev + 8),
        this->n > 1 ? strjoin(",", strjoin(lltostr(*(uint64_t *)(this->ev + 32)),
            strjoin(":", lltostr(*(int16_t *)(this->ev + 40))))) : "",
        this->n > 2 ? strjoin(",", strjoin(lltostr(*(uint64_t *)(this->ev + 64)),
            strjoin(":", lltostr(*(int16_t *)(this->ev + 72))))) : "",
        this->n > 3 ? strjoin(",", strjoin(lltostr(*(uint64_t *)(this->ev + 96)),
            strjoin(":", lltostr(*(int16_t *)(this->ev + 104))))) : "");
    self->start = 0;
}

syscall::kevent64:return
/self->start && (int)arg0 > 0/
{
    this->n = (int)arg0;
    this->ev = (char *)copyin(self->a3, 48 * (this->n < 2 ? this->n : 2));
    printf("C\t%d\t%d\t%d\t%s\t%d\t0x%x\t%d\t%d\t%d\t%d\t%d:%d%s\n", self->ts, pid, tid,
        probefunc, (int)self->a0, self->a1, (int)self->a2, this->n, errno,
        timestamp - self->start, *(uint64_t *)this->ev, *(int16_t *)(this->ev + 8),
        this->n > 1 ? strjoin(",", strjoin(lltostr(*(uint64_t *)(this->ev + 48)),
            strjoin(":", lltostr(*(int16_t *)(this->ev + 56))))) : "");
    self->start = 0;
}

/* everything else (and the calls above when they moved no bytes or failed) */
syscall:::return
/self->start/
{
    printf("C\t%d\t%d\t%d\t%s\t%d\t0x%x\t%d\t%d\t%d\t%d\t-\n", self->ts, pid, tid, probefunc,
        (int)self->a0, self->a1, (int)self->a2, (int)arg0, errno, timestamp - self->start);
    self->start = 0;
}

proc:::exit
/progenyof($target)/
{
    printf("X\t%d\t%d\t%d\t%d\n", walltimestamp, pid, tid, args[0]);
}
