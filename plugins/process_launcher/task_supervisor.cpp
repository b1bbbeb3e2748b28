// tessera-task-supervisor: the small per-task process that the process launcher starts in
// place of the task, so that a task's exit status is known even when the agent is not there to
// read it.
//
// The launcher spawns it in a session of its own (a kill of the task's process group never
// reaches it; a terminal's signals neither), with the sandbox's stdout/stderr and working
// directory, and a control socket on descriptor 3. It runs no task code itself:
//   1. It reads the launch from the socket (see posix_launcher.cpp, encode_launch): the status
//      file's path, whether the launch is held, the program, its argv and its environment. The
//      task's environment travels there rather than in this process's own, so that only the
//      task carries the container marker.
//   2. It forks the task, which makes a session and process group of its own (the container's
//      process group, as before), and, for a held launch, waits for one byte on the socket (the
//      launcher's release) before it execs the program: isolators attach the task's pid first,
//      and every page the task uses is allocated after the exec, so inside its cgroups. The
//      socket closing without that byte (the launcher's process died) makes it exit 125
//      without running anything.
//   3. It sends the task's pid on the socket right after the fork (the launch is answered
//      without waiting for the task to be scheduled), and closes its own copy of the socket.
//   4. It waits for the task (its own child, so the status is real whoever else comes and
//      goes), SIGKILLs whatever is left of the task's process group while the task's zombie
//      still holds the group id, reaps it, and writes the status into the status page of the
//      container's state file (one pwrite(2) of a few dozen bytes at its second page, which the
//      launcher cleared: whole or not at all if it is killed; no file is created, so a burst of
//      launches allocates no inodes for it), then exits 0. When the status cannot be written (a
//      full disk, or the state file is gone), it ends as its task did instead, for the launcher
//      that started it.
// Its arguments: the container id (for people reading ps), and `--nofile=N` when the task's soft
// RLIMIT_NOFILE must be N rather than the one inherited from the agent (which tessera-host
// raised to its hard limit).
// It is freestanding: no C library, its own entry point, system calls made directly (x86-64 and
// AArch64), the launch read into one mapping and used in place. Every task pays for its start:
// on this machine (a VM) a statically linked glibc program spent about 0.6 ms more than an
// empty freestanding one between its spawn and its exit (glibc's start-up asks the CPU its
// features with dozens of `cpuid`s, each a trap to the hypervisor), as much as the task's own
// exec of `true` (docs/bench-isolation.md). It lives in the launching agent's cgroups, never in
// the task's, so a task's memory limit cannot kill it.
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "tessera-task-supervisor makes its system calls itself: x86-64 and AArch64 only"
#endif

// What the compiler may call for copies and fills of its own (no C library provides them). GCC
// must not turn their loops into calls to themselves.
#if defined(__GNUC__) && !defined(__clang__)
#define TESSERA_PLAIN_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define TESSERA_PLAIN_LOOPS
#endif
extern "C" {
TESSERA_PLAIN_LOOPS void* memcpy(void* to, const void* from, size_t size) {
  auto* d = static_cast<unsigned char*>(to);
  const auto* s = static_cast<const unsigned char*>(from);
  while (size-- > 0) *d++ = *s++;
  return to;
}
TESSERA_PLAIN_LOOPS void* memmove(void* to, const void* from, size_t size) {
  auto* d = static_cast<unsigned char*>(to);
  const auto* s = static_cast<const unsigned char*>(from);
  if (d < s) {
    while (size-- > 0) *d++ = *s++;
  } else {
    while (size-- > 0) d[size] = s[size];
  }
  return to;
}
TESSERA_PLAIN_LOOPS void* memset(void* to, int value, size_t size) {
  auto* d = static_cast<unsigned char*>(to);
  while (size-- > 0) *d++ = static_cast<unsigned char>(value);
  return to;
}
int memcmp(const void* a, const void* b, size_t size) {
  const auto* x = static_cast<const unsigned char*>(a);
  const auto* y = static_cast<const unsigned char*>(b);
  for (size_t i = 0; i < size; ++i) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}
}

namespace {

// One system call; a result in [-4095, -1] is -errno.
long sys(long number, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
#if defined(__x86_64__)
  long result = 0;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(result)
                   : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return result;
#else
  register long x8 __asm__("x8") = number;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc #0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                   : "memory");
  return x0;
#endif
}

long as_long(const void* pointer) { return reinterpret_cast<long>(pointer); }

bool failed(long result) { return result < 0 && result > -4096; }

[[noreturn]] void exit_now(int code) {
  for (;;) sys(SYS_exit_group, code);
}

constexpr int kControl = 3;
constexpr int kStderr = 2;
// The most the launch message may hold; the launcher never sends more.
constexpr uint32_t kMaxMessage = uint32_t{64} << 20;
// Where the status page of a state file starts (posix_launcher.cpp, kStatePage).
constexpr long kStatusOffset = 4096;

// Reads exactly `size` bytes; an error or the end of the stream before is a failure.
bool read_all(int fd, void* data, size_t size) {
  auto* at = static_cast<char*>(data);
  while (size > 0) {
    long n = sys(SYS_read, fd, as_long(at), static_cast<long>(size));
    if (n == -EINTR) continue;
    if (n <= 0) return false;
    at += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool write_all(int fd, const void* data, size_t size) {
  const auto* at = static_cast<const char*>(data);
  while (size > 0) {
    long n = sys(SYS_write, fd, as_long(at), static_cast<long>(size));
    if (n == -EINTR) continue;
    if (n <= 0) return false;
    at += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// The text of the errors these system calls give in practice; others by number.
const char* error_text(long error) {
  switch (error) {
    case EPERM:
      return "Operation not permitted";
    case ENOENT:
      return "No such file or directory";
    case EINTR:
      return "Interrupted system call";
    case EIO:
      return "Input/output error";
    case E2BIG:
      return "Argument list too long";
    case ENOEXEC:
      return "Exec format error";
    case EAGAIN:
      return "Resource temporarily unavailable";
    case ENOMEM:
      return "Cannot allocate memory";
    case EACCES:
      return "Permission denied";
    case EFAULT:
      return "Bad address";
    case ENOTDIR:
      return "Not a directory";
    case EISDIR:
      return "Is a directory";
    case EINVAL:
      return "Invalid argument";
    case ETXTBSY:
      return "Text file busy";
    case ENOSPC:
      return "No space left on device";
    case EROFS:
      return "Read-only file system";
    case ELOOP:
      return "Too many levels of symbolic links";
    case ENAMETOOLONG:
      return "File name too long";
    case EDQUOT:
      return "Disk quota exceeded";
    case ELIBBAD:
      return "Accessing a corrupted shared library";
    default:
      return nullptr;
  }
}

// Appends `value` in decimal to `text` (of `capacity` bytes, `size` used); what does not fit
// is cut.
void append_number(char* text, size_t capacity, size_t& size, long value) {
  char digits[24];
  size_t count = 0;
  unsigned long magnitude =
      value < 0 ? 0UL - static_cast<unsigned long>(value) : static_cast<unsigned long>(value);
  do {
    digits[count++] = static_cast<char>('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude > 0);
  if (value < 0 && size < capacity) text[size++] = '-';
  while (count > 0 && size < capacity) text[size++] = digits[--count];
}

// One line for stderr (the sandbox's), built without a heap; what does not fit is cut.
class Line {
 public:
  Line() { add("tessera-task-supervisor: "); }
  Line& add(const char* text) {
    while (*text != '\0' && size_ < sizeof text_ - 1) text_[size_++] = *text++;
    return *this;
  }
  Line& add_number(long value) {
    append_number(text_, sizeof text_ - 1, size_, value);
    return *this;
  }
  Line& add_error(long error) {
    const char* text = error_text(error);
    if (text != nullptr) return add(text);
    return add("error ").add_number(error);
  }
  void say() {
    text_[size_++] = '\n';
    (void)write_all(kStderr, text_, size_);
  }

 private:
  char text_[1024];
  size_t size_ = 0;
};

// The launch: length-prefixed strings (u32 little-endian count, then u32 length + bytes each),
// turned in place into NUL-terminated strings and pointer lists for execve.
struct Launch {
  const char* status_path = nullptr;  // the container's state file
  bool hold = false;
  uint64_t nofile = 0;  // the task's soft RLIMIT_NOFILE; 0: as inherited
  const char* program = nullptr;
  char** argv = nullptr;
  char** env = nullptr;
};

bool read_launch(Launch& launch) {
  uint32_t total = 0;
  if (!read_all(kControl, &total, sizeof total) || total > kMaxMessage) return false;
  // The message, then room for its pointer lists: each string takes at least its 4-byte
  // length, so there are at most total / 4 of them.
  size_t lists = (size_t{total} / 4 + 4) * sizeof(char*);
  size_t size = size_t{total} + 1 + lists;
  long mapped = sys(SYS_mmap, 0, static_cast<long>(size), PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (failed(mapped)) return false;
  // NOLINTNEXTLINE(performance-no-int-to-ptr): mmap's result is the mapping's address.
  char* blob = reinterpret_cast<char*>(mapped);
  if (!read_all(kControl, blob, total)) return false;
  char** pointers = reinterpret_cast<char**>(blob + ((size_t{total} + 1 + 7) & ~size_t{7}));
  size_t at = 0;
  auto next_u32 = [&](uint32_t& out) {
    if (total - at < sizeof out) return false;
    memcpy(&out, blob + at, sizeof out);
    at += sizeof out;
    return true;
  };
  // Each string moves over its own length, and its NUL goes where its last byte was before the
  // move: the next string's length, further on, is still whole.
  auto next_string = [&](char*& out) {
    uint32_t size = 0;
    if (!next_u32(size) || total - at < size) return false;
    out = blob + at - sizeof size;
    memmove(out, blob + at, size);
    out[size] = '\0';
    at += size;
    return true;
  };
  auto next_list = [&](char**& out) {
    uint32_t count = 0;
    if (!next_u32(count) || count > (total - at) / 4) return false;
    out = pointers;
    for (uint32_t i = 0; i < count; ++i) {
      if (!next_string(pointers[i])) return false;
    }
    pointers[count] = nullptr;
    pointers += count + 1;
    return true;
  };
  char* status_path = nullptr;
  char* hold = nullptr;
  char* program = nullptr;
  if (!next_string(status_path) || !next_string(hold) || !next_string(program) ||
      !next_list(launch.argv) || !next_list(launch.env) || at != total) {
    return false;
  }
  launch.status_path = status_path;
  launch.program = program;
  launch.hold = hold[0] == '1' && hold[1] == '\0';
  return status_path[0] != '\0' && program[0] != '\0' && launch.argv[0] != nullptr;
}

// The disposition of one signal: SIG_DFL or SIG_IGN, nothing blocked meanwhile.
void set_disposition(int signal, void (*handler)(int)) {
  struct {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)();
    uint64_t mask;
  } action{handler, 0, nullptr, 0};
  sys(SYS_rt_sigaction, signal, as_long(&action), 0, sizeof action.mask);
}

// In the forked child: becomes the task, in a session and process group of its own.
[[noreturn]] void run_task(const Launch& launch) {
  set_disposition(SIGPIPE, SIG_DFL);
  sys(SYS_setsid);
  if (launch.hold) {
    char line = 0;
    long n = 0;
    do {
      n = sys(SYS_read, kControl, as_long(&line), 1);
    } while (n == -EINTR);
    if (n != 1) exit_now(125);
  }
  sys(SYS_close, kControl);
  if (launch.nofile > 0) {
    rlimit limit{};
    long got = sys(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, as_long(&limit));
    if (!failed(got)) {
      limit.rlim_cur = launch.nofile < limit.rlim_max ? launch.nofile : limit.rlim_max;
      long set = sys(SYS_prlimit64, 0, RLIMIT_NOFILE, as_long(&limit), 0);
      if (failed(set)) {
        Line().add("cannot restore the task's descriptor limit: ").add_error(-set).say();
      }
    }
  }
  long error = -sys(SYS_execve, as_long(launch.program), as_long(launch.argv), as_long(launch.env));
  Line().add("cannot execute '").add(launch.program).add("': ").add_error(error).say();
  exit_now(error == ENOENT ? 127 : 126);
}

// Writes the status into the state file's status page; false with the error when it cannot.
long write_status(const char* path, const siginfo_t& info, long task) {
  int exit_code = info.si_code == CLD_EXITED ? info.si_status : -1;
  int signal = info.si_code == CLD_EXITED ? 0 : info.si_status;
  char page[160];
  size_t size = 0;
  auto put = [&](const char* key, long value) {
    for (const char* k = key; *k != '\0' && size < sizeof page; ++k) page[size++] = *k;
    append_number(page, sizeof page, size, value);
    if (size < sizeof page) page[size++] = '\n';
  };
  put("exit_code=", exit_code);
  put("signal=", signal);
  put("task_pid=", task);
  put("supervisor_pid=", sys(SYS_getpid));
  // Never created: a state file that is gone belongs to a container the launcher forgot.
  long fd = sys(SYS_openat, AT_FDCWD, as_long(path), O_WRONLY | O_CLOEXEC);
  if (failed(fd)) return -fd;
  long written = sys(SYS_pwrite64, fd, as_long(page), static_cast<long>(size), kStatusOffset);
  sys(SYS_close, fd);
  if (failed(written)) return -written;
  return written == static_cast<long>(size) ? 0 : ENOSPC;
}

bool starts_with(const char* text, const char* prefix) {
  while (*prefix != '\0') {
    if (*text++ != *prefix++) return false;
  }
  return true;
}

int supervise(int argc, char** argv) {
  // A SIGPIPE from the control socket must not end it before it has written the status.
  set_disposition(SIGPIPE, SIG_IGN);
  Launch launch;
  if (!read_launch(launch)) {
    Line().add("no launch received from the launcher").say();
    return 125;
  }
  for (int i = 2; i < argc; ++i) {
    const char* value = argv[i];
    if (!starts_with(value, "--nofile=")) continue;
    uint64_t number = 0;
    const char* digit = value + 9;
    bool valid = *digit != '\0';
    for (; *digit != '\0'; ++digit) {
      if (*digit < '0' || *digit > '9' || number > (UINT64_MAX - 9) / 10) {
        valid = false;
        break;
      }
      number = number * 10 + static_cast<uint64_t>(*digit - '0');
    }
    if (valid && number > 0) launch.nofile = number;
  }
  // A fork: the child shares nothing with this process but what fork copies.
  long task = sys(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (failed(task)) {
    Line().add("cannot fork the task: ").add_error(-task).say();
    return 125;
  }
  if (task == 0) run_task(launch);
  // The task's pid goes to the launcher now, not from the task once it runs: on a loaded
  // machine a new process waits for a core, and the launch's answer would wait with it. Until
  // the task has made its session, its process group does not exist yet: the launcher signals
  // the task's pid alone then (nothing else of the task runs before its setsid). The launcher
  // may be gone already: the task is started all the same (and, held, ends at once), and its
  // status is written. From here on the control socket is the task's alone.
  auto reported = static_cast<int32_t>(task);
  (void)write_all(kControl, &reported, sizeof reported);
  sys(SYS_close, kControl);

  siginfo_t info{};
  for (;;) {
    long waited = sys(SYS_waitid, P_PID, task, as_long(&info), WEXITED | WNOWAIT, 0);
    if (waited == 0) break;
    if (waited != -EINTR) return 125;
  }
  // While the task's zombie holds its pid, the group id is the task's: whatever is left of the
  // group is the task's own, and no orphan outlives it.
  sys(SYS_kill, -task, SIGKILL);
  for (;;) {
    long waited = sys(SYS_waitid, P_PID, task, as_long(&info), WEXITED, 0);
    if (waited == 0) break;
    if (waited != -EINTR) return 125;
  }
  long error = write_status(launch.status_path, info, task);
  if (error != 0) {
    // A full disk, say. The launcher that started it still reads its end: it ends as its task
    // did (the same exit code, or the same signal), which the launcher takes when no status
    // file is there and the task is gone.
    Line()
        .add("cannot write the exit status to '")
        .add(launch.status_path)
        .add("': ")
        .add_error(error)
        .add("; ending as the task did")
        .say();
    if (info.si_code == CLD_EXITED) return info.si_status;
    set_disposition(info.si_status, SIG_DFL);
    sys(SYS_kill, sys(SYS_getpid), info.si_status);
    return 125;
  }
  return 0;
}

}  // namespace

// The entry point the kernel jumps to: the stack holds argc, then argv.
extern "C" [[noreturn]] [[gnu::used]] void supervisor_start(long* stack) {
  int argc = static_cast<int>(stack[0]);
  char** argv = reinterpret_cast<char**>(stack + 1);
  exit_now(supervise(argc, argv));
}

#if defined(__x86_64__)
__asm__(
    ".text\n"
    ".global _start\n"
    "_start:\n"
    "  xor %rbp, %rbp\n"
    "  mov %rsp, %rdi\n"
    "  and $-16, %rsp\n"
    "  call supervisor_start\n"
    "  hlt\n");
#else
__asm__(
    ".text\n"
    ".global _start\n"
    "_start:\n"
    "  mov x29, #0\n"
    "  mov x30, #0\n"
    "  mov x0, sp\n"
    "  bl supervisor_start\n");
#endif
