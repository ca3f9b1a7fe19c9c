/* atomic_file.c - write a report so that readers see the old file or the whole new one, never a
 * half-written one, even when the run is cut short (SIGINT) or the disk fills up: a temporary
 * file in the same directory (rename is atomic only within one filesystem), fsync, rename.
 *
 * That is right for a regular file only. A rename over anything else replaces it: run as root,
 * `--json /dev/null` turned the device node into a regular file. So the path is looked at first
 * (atomic_file_target):
 *   - a regular file, or nothing yet: temp file + rename, in the directory of the file itself
 *     (a symlink to it stays a symlink and the file it names is replaced); an existing file
 *     keeps its permission bits; a read-only one (no write bit, or not writable by this user)
 *     is refused, never replaced;
 *   - a character device (/dev/null, /dev/tty) or a FIFO: written in place, opened without
 *     O_CREAT or O_TRUNC (a FIFO nobody reads is an error, not a hang);
 *   - a descriptor of this process named through /proc (/dev/stdout, /dev/fd/N): written in
 *     place, appended when it is a regular file (what a shell's `> out` already holds stays);
 *   - a directory, a block device or a socket: refused. */
#include "report/report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "base/compiler.h"

#define MAX_LINKS 40 /* as the kernel's own limit on symlinks in one lookup */

enum target_kind {
    TARGET_NEW, /* nothing there yet: create it (temp file + rename) */
    TARGET_REGULAR, /* a regular file: replace it (temp file + rename) */
    TARGET_IN_PLACE, /* a device, a FIFO, or a descriptor named through /proc: write into it */
};

struct target {
    enum target_kind kind;
    char *path; /* malloc'ed: the file to create or replace (symlinks followed), or the path to
                   open for an in-place write */
    struct stat st; /* TARGET_REGULAR: the file as it is */
};

static int failf(char *err, size_t errlen, int e, const char *fmt, ...) PRINTF_LIKE(4, 5);
static int failf(char *err, size_t errlen, int e, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -e;
}

static int fail(char *err, size_t errlen, int e, const char *path, const char *what)
{
    return failf(err, errlen, e, "%s: %s: %s", path, what, strerror(e));
}

/* The process umask without changing it: umask(2) can only be read by setting it, which would
 * race with any other thread creating a file. Linux >= 4.7 shows it in /proc. */
static mode_t umask_peek(void)
{
    mode_t mask = 022;
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return mask;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Umask:", 6) == 0) {
            mask = (mode_t)strtoul(line + 6, NULL, 8) & 0777;
            break;
        }
    }
    fclose(f);
    return mask;
}

/* The directory part of path with its slash ("a/b/" for "a/b/c"), "" for a bare name. */
static size_t dir_len(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path) + 1 : 0;
}

/* Whether the symlink `link` lives in procfs: /proc/self/fd/N and its kin name open
 * descriptors, and what readlink says of them is no path to rename onto (a pipe reads
 * "pipe:[123]", a file opened by the shell its name, though the descriptor is what counts). */
static int on_procfs(const char *link)
{
    size_t dl = dir_len(link);
    char *dir = dl ? strndup(link, dl) : strdup(".");
    if (!dir)
        return 0;
    struct statfs fs;
    int yes = statfs(dir, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC;
    free(dir);
    return yes;
}

/* Where a report for path goes (see the top of the file). Returns 0 with *t filled (free
 * t->path), or a negative errno with a message naming path. */
static int atomic_file_target(const char *path, struct target *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (!path || !*path)
        return fail(err, errlen, EINVAL, "(empty path)", "cannot write");
    const char *base = path + dir_len(path);
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return fail(err, errlen, EISDIR, path, "cannot write");

    char *cur = strdup(path);
    if (!cur)
        return fail(err, errlen, ENOMEM, path, "cannot write");
    for (int hops = 0;; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0) {
            int e = errno;
            if (e == ENOENT) { /* nothing yet (or a symlink to nothing yet): create it */
                t->kind = TARGET_NEW;
                t->path = cur;
                return 0;
            }
            free(cur);
            return fail(err, errlen, e, path, "cannot write");
        }
        if (S_ISLNK(st.st_mode)) {
            if (on_procfs(cur)) {
                t->kind = TARGET_IN_PLACE;
                t->path = cur;
                return 0;
            }
            if (hops == MAX_LINKS) {
                free(cur);
                return fail(err, errlen, ELOOP, path, "cannot write");
            }
            char link[PATH_MAX];
            ssize_t n = readlink(cur, link, sizeof link - 1);
            if (n < 0) {
                int e = errno;
                free(cur);
                return fail(err, errlen, e, path, "cannot write");
            }
            link[n] = '\0';
            /* A relative link is relative to the directory holding it. */
            size_t dl = link[0] == '/' ? 0 : dir_len(cur);
            char *next = malloc(dl + (size_t)n + 1);
            if (!next) {
                free(cur);
                return fail(err, errlen, ENOMEM, path, "cannot write");
            }
            memcpy(next, cur, dl);
            memcpy(next + dl, link, (size_t)n + 1);
            free(cur);
            cur = next;
            continue;
        }
        if (S_ISREG(st.st_mode)) {
            /* Root may write anything, so access() alone would let a 0444 file be replaced. */
            if ((st.st_mode & 0222) == 0 || access(cur, W_OK) != 0) {
                int e = (st.st_mode & 0222) == 0 ? EACCES : errno;
                int rc = failf(err, errlen, e,
                               "%s: is read-only (mode %04o): refusing to replace it (%s)", path,
                               (unsigned)(st.st_mode & 07777), strerror(e));
                free(cur);
                return rc;
            }
            t->kind = TARGET_REGULAR;
            t->path = cur;
            t->st = st;
            return 0;
        }
        if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
            t->kind = TARGET_IN_PLACE;
            t->path = cur;
            return 0;
        }
        const char *what = S_ISDIR(st.st_mode)   ? "is a directory"
                           : S_ISBLK(st.st_mode) ? "is a block device: refusing to write onto it"
                           : S_ISSOCK(st.st_mode)
                               ? "is a socket: a report goes to a file, a FIFO or a device"
                               : "is not a file";
        int e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        int rc = S_ISDIR(st.st_mode) ? fail(err, errlen, e, path, "cannot write")
                                     : failf(err, errlen, e, "%s: %s", path, what);
        free(cur);
        return rc;
    }
}

/* "<dir>/.<base>.XXXXXX" for target: hidden, and named after its target so that a leftover
 * (after a crash between create and rename) says where it came from. NULL when out of memory. */
static char *temp_name(const char *target)
{
    size_t dl = dir_len(target), bl = strlen(target + dl);
    char *tmp = malloc(dl + bl + 9);
    if (!tmp)
        return NULL;
    memcpy(tmp, target, dl);
    tmp[dl] = '.';
    memcpy(tmp + dl + 1, target + dl, bl);
    memcpy(tmp + dl + 1 + bl, ".XXXXXX", 8);
    return tmp;
}

/* A temporary file beside target (its name in *tmp, malloc'ed). Returns the descriptor, or a
 * negative errno with a message naming path and the directory. */
static int temp_create(const char *path, const char *target, char **tmp, char *err, size_t errlen)
{
    *tmp = temp_name(target);
    if (!*tmp)
        return fail(err, errlen, ENOMEM, path, "cannot write");
    int fd = mkostemp(*tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        size_t dl = dir_len(target);
        free(*tmp);
        *tmp = NULL;
        /* The directory without its last slash, but "/" for the root. */
        return failf(err, errlen, e, "%s: cannot create a file in %.*s: %s", path,
                     dl > 1 ? (int)dl - 1 : 1, dl ? target : ".", strerror(e));
    }
    return fd;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Into a device, a FIFO or a descriptor named through /proc, as it is. */
static int write_in_place(const char *path, const struct target *t, const void *data, size_t len,
                          char *err, size_t errlen)
{
    /* O_NONBLOCK: a FIFO nobody reads fails with ENXIO at once instead of blocking the end of
     * the run forever; it is cleared again for the writes. */
    int fd = open(t->path, O_WRONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ENXIO)
            return failf(err, errlen, e, "%s: cannot write: no process reads the FIFO", path);
        return fail(err, errlen, e, path, "cannot open");
    }
    struct stat st;
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) {
        flags &= ~O_NONBLOCK;
        /* /dev/stdout onto a regular file: after what is there, as the shell's descriptor
         * would write, not over it from offset 0. */
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
            flags |= O_APPEND;
        (void)fcntl(fd, F_SETFL, flags);
    }
    /* A reader that went away means EPIPE, not a SIGPIPE that kills the process before the
     * other reports are written: hold the signal back and drop the one this write raised. */
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    int pending_before = 0;
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigset_t pending;
    if (sigpending(&pending) == 0)
        pending_before = sigismember(&pending, SIGPIPE) == 1;
    int rc = write_all(fd, data, len);
    if (rc == EPIPE && !pending_before && !sigismember(&old, SIGPIPE)) {
        struct timespec zero = {0, 0};
        (void)sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (close(fd) != 0 && !rc && errno != EINTR)
        rc = errno;
    if (rc)
        return fail(err, errlen, rc, path, "cannot write");
    return 0;
}

/* Create or replace t->path atomically. */
static int write_replace(const char *path, const struct target *t, const void *data, size_t len,
                         char *err, size_t errlen)
{
    char *tmp;
    int fd = temp_create(path, t->path, &tmp, err, errlen);
    if (fd < 0)
        return fd;
    if (t->kind == TARGET_REGULAR) {
        /* The file keeps what it had: its permission bits and, where allowed, its owner. */
        (void)fchmod(fd, t->st.st_mode & 07777);
        if (t->st.st_uid != geteuid() || t->st.st_gid != getegid())
            (void)fchown(fd, t->st.st_uid, t->st.st_gid);
    } else {
        /* mkstemp makes the file 0600; a report is an ordinary file, so give it what open(2)
         * with 0666 would have under the process umask. */
        (void)fchmod(fd, 0666 & ~umask_peek());
    }
    int rc = write_all(fd, data, len);
    const char *what = rc ? "cannot write" : NULL;
    /* fsync before rename: otherwise a crash can leave the new name pointing at an empty
     * file, the classic ext4 delayed-allocation surprise. */
    if (!rc && fsync(fd) != 0) {
        rc = errno;
        what = "cannot flush to disk";
    }
    if (close(fd) != 0 && !rc) {
        rc = errno;
        what = "cannot write";
    }
    if (!rc && rename(tmp, t->path) != 0) {
        rc = errno;
        what = "cannot rename the temporary file into place";
    }
    if (rc) {
        unlink(tmp);
        free(tmp);
        return fail(err, errlen, rc, path, what);
    }
    free(tmp);

    /* Make the rename itself durable. Best effort: some filesystems refuse fsync on a
     * directory, and the file is complete either way. */
    size_t dl = dir_len(t->path);
    char *dir = dl ? strndup(t->path, dl) : strdup(".");
    if (dir) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    return 0;
}

int atomic_file_write(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    struct target t;
    int rc = atomic_file_target(path, &t, err, errlen);
    if (rc != 0)
        return rc;
    rc = t.kind == TARGET_IN_PLACE ? write_in_place(path, &t, data, len, err, errlen)
                                   : write_replace(path, &t, data, len, err, errlen);
    free(t.path);
    return rc;
}

int atomic_file_check(const char *path, char *err, size_t errlen)
{
    struct target t;
    int rc = atomic_file_target(path, &t, err, errlen);
    if (rc != 0)
        return rc;
    if (t.kind == TARGET_IN_PLACE) {
        /* Whether a FIFO will have a reader at the end is not known now; the permission is. */
        if (access(t.path, W_OK) != 0)
            rc = fail(err, errlen, errno, path, "cannot write");
    } else {
        /* What the write will do first: a temporary file in the directory (which must exist,
         * be writable, on a filesystem mounted read-write, with a free inode). */
        char *tmp;
        int fd = temp_create(path, t.path, &tmp, err, errlen);
        if (fd < 0) {
            rc = fd;
        } else {
            close(fd);
            unlink(tmp);
            free(tmp);
        }
    }
    free(t.path);
    return rc;
}
