/* atomic_file.c - write a report so that readers see the old file or the whole new one, never a
 * half-written one, even when the run is cut short (SIGINT) or the disk fills up: a temporary
 * file in the same directory (rename is atomic only within one filesystem), fsync, rename. */
#include "report/report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static int fail(char *err, size_t errlen, int e, const char *path, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: %s: %s", path, what, strerror(e));
    return -e;
}

int atomic_file_write(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    if (!path || !*path)
        return fail(err, errlen, EINVAL, "(empty path)", "cannot write");
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return fail(err, errlen, EISDIR, path, "cannot write");

    /* "<dir>/.<base>.XXXXXX": hidden, and named after its target so that a leftover (after a
     * crash between create and rename) says where it came from. */
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    size_t baselen = strlen(base);
    char *tmp = malloc(dirlen + baselen + 9);
    if (!tmp)
        return fail(err, errlen, ENOMEM, path, "cannot write");
    memcpy(tmp, path, dirlen);
    tmp[dirlen] = '.';
    memcpy(tmp + dirlen + 1, base, baselen);
    memcpy(tmp + dirlen + 1 + baselen, ".XXXXXX", 8);

    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        char what[300];
        if (dirlen)
            snprintf(what, sizeof what, "cannot create a temporary file in %.*s", (int)dirlen,
                     path);
        else
            snprintf(what, sizeof what, "cannot create a temporary file in .");
        free(tmp);
        return fail(err, errlen, e, path, what);
    }
    /* mkstemp makes the file 0600; a report is an ordinary file, so give it what open(2) with
     * 0666 would have under the process umask. */
    (void)fchmod(fd, 0666 & ~umask_peek());

    const char *p = data;
    size_t left = len;
    int rc = 0;
    const char *what = NULL;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = errno;
            what = "cannot write";
            break;
        }
        p += n;
        left -= (size_t)n;
    }
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
    if (!rc && rename(tmp, path) != 0) {
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
    char *dir = dirlen ? strndup(path, dirlen) : strdup(".");
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
