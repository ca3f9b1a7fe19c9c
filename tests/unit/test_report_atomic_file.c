/* test_report_atomic_file.c - where a report goes: a regular file (or a new one) is replaced
 * atomically, through a symlink too, keeping its mode; a device or a FIFO is written in place and
 * stays what it was; a read-only file, a socket and a FIFO nobody reads are refused and left as
 * they were; atomic_file_check says the same before a run, creating nothing. */
#include "report/report.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

static char dir[64];
static char err[512];

static int files_in(const char *d)
{
    int n = 0;
    DIR *dh = opendir(d);
    if (!dh)
        return -1;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(dh);
    return n;
}

static void path_of(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

static void put(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    CHECK(chmod(path, mode) == 0);
}

/* The file's content (at most 255 bytes), "" when it cannot be read. */
static const char *content(const char *path)
{
    static char buf[256];
    buf[0] = '\0';
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return buf;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    return buf;
}

static void test_regular(void)
{
    char path[128];
    path_of(path, sizeof path, "r.json");
    /* new: 0666 under the umask (022) */
    CHECK_EQ_I64(atomic_file_write(path, "one\n", 4, err, sizeof err), 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0644);
    /* replaced, keeping the mode it was given since */
    CHECK(chmod(path, 0640) == 0);
    CHECK(stat(path, &st) == 0);
    ino_t before = st.st_ino;
    CHECK_EQ_I64(atomic_file_write(path, "two\n", 4, err, sizeof err), 0);
    CHECK_EQ_STR(content(path), "two\n");
    CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode));
    CHECK_EQ_I64(st.st_mode & 07777, 0640);
    CHECK(st.st_ino != before); /* a new file renamed into place, not rewritten */
    CHECK_EQ_I64(files_in(dir), 1);
    CHECK_EQ_I64(atomic_file_check(path, err, sizeof err), 0);
    CHECK_EQ_I64(files_in(dir), 1); /* the check's probe is gone */
    unlink(path);
}

static void test_read_only(void)
{
    char path[128];
    path_of(path, sizeof path, "ro.json");
    put(path, "keep\n", 0444);
    /* refused even for root, who could write it */
    CHECK_EQ_I64(atomic_file_check(path, err, sizeof err), -EACCES);
    CHECK(strncmp(err, path, strlen(path)) == 0 && strstr(err, "read-only") != NULL);
    CHECK_EQ_I64(atomic_file_write(path, "lost\n", 5, err, sizeof err), -EACCES);
    CHECK_EQ_STR(content(path), "keep\n");
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0444);
    CHECK_EQ_I64(files_in(dir), 1); /* no temporary file */
    unlink(path);
}

static void test_symlinks(void)
{
    /* dir/link.json -> sub/target.json (relative to the link's directory) */
    char sub[128], target[128], link[128], chain[128], dangling[128], made[128];
    path_of(sub, sizeof sub, "sub");
    CHECK(mkdir(sub, 0755) == 0);
    path_of(target, sizeof target, "sub/target.json");
    path_of(link, sizeof link, "link.json");
    put(target, "old\n", 0600);
    CHECK(symlink("sub/target.json", link) == 0);
    CHECK_EQ_I64(atomic_file_write(link, "new\n", 4, err, sizeof err), 0);
    struct stat st;
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode)); /* still a link */
    CHECK_EQ_STR(content(target), "new\n");
    CHECK(stat(target, &st) == 0 && (st.st_mode & 07777) == 0600);
    CHECK_EQ_I64(files_in(sub), 1); /* the temporary file was beside the target, and is gone */
    CHECK_EQ_I64(files_in(dir), 2); /* sub and link.json */

    /* a chain of links, the last one absolute */
    path_of(chain, sizeof chain, "chain.json");
    CHECK(symlink(link, chain) == 0);
    CHECK_EQ_I64(atomic_file_write(chain, "newer\n", 6, err, sizeof err), 0);
    CHECK(lstat(chain, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK_EQ_STR(content(target), "newer\n");

    /* a link to nothing yet: the file is made where it points */
    path_of(dangling, sizeof dangling, "dangling.json");
    path_of(made, sizeof made, "sub/made.json");
    CHECK(symlink("sub/made.json", dangling) == 0);
    CHECK_EQ_I64(atomic_file_check(dangling, err, sizeof err), 0);
    CHECK(access(made, F_OK) != 0);
    CHECK_EQ_I64(atomic_file_write(dangling, "made\n", 5, err, sizeof err), 0);
    CHECK(lstat(dangling, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK_EQ_STR(content(made), "made\n");

    /* a link to a read-only file is refused like the file */
    CHECK(chmod(target, 0444) == 0);
    CHECK_EQ_I64(atomic_file_write(link, "x\n", 2, err, sizeof err), -EACCES);
    CHECK_EQ_STR(content(target), "newer\n");

    unlink(chain);
    unlink(dangling);
    unlink(link);
    unlink(made);
    unlink(target);
    rmdir(sub);
    CHECK_EQ_I64(files_in(dir), 0);
}

static void test_fifo(void)
{
    char path[128];
    path_of(path, sizeof path, "fifo");
    CHECK(mkfifo(path, 0600) == 0);
    struct stat st;
    /* nobody reads it: an error at once, not a hang, and the FIFO stays */
    CHECK_EQ_I64(atomic_file_check(path, err, sizeof err), 0);
    CHECK_EQ_I64(atomic_file_write(path, "x\n", 2, err, sizeof err), -ENXIO);
    CHECK(strncmp(err, path, strlen(path)) == 0);
    CHECK(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode));
    /* with a reader: written into it */
    int rd = open(path, O_RDONLY | O_NONBLOCK);
    CHECK(rd >= 0);
    CHECK_EQ_I64(atomic_file_write(path, "through\n", 8, err, sizeof err), 0);
    char buf[32] = "";
    ssize_t n = read(rd, buf, sizeof buf - 1);
    CHECK_EQ_I64(n, 8);
    CHECK(memcmp(buf, "through\n", 8) == 0);
    close(rd);
    CHECK(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode));
    CHECK_EQ_I64(files_in(dir), 1);
    /* through a symlink too */
    char link[128];
    path_of(link, sizeof link, "fifo-link");
    CHECK(symlink("fifo", link) == 0);
    rd = open(path, O_RDONLY | O_NONBLOCK);
    CHECK_EQ_I64(atomic_file_write(link, "via\n", 4, err, sizeof err), 0);
    n = read(rd, buf, sizeof buf - 1);
    CHECK_EQ_I64(n, 4);
    close(rd);
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode));
    unlink(link);
    unlink(path);
}

/* A character device to write to: as root, a node of the test's own of the same type (a broken
 * writer would replace it by rename, and must never get to do that to the system's /dev/null);
 * else the system's, which a rename by this user cannot replace. NULL when neither is safe. */
static const char *device(char *out, size_t len, const char *name, unsigned minor,
                          const char *system)
{
    if (geteuid() != 0)
        return system;
    path_of(out, len, name);
    if (mknod(out, S_IFCHR | 0666, makedev(1, minor)) == 0)
        return out;
    tap_diag("root without mknod: the device cases are left out");
    return NULL;
}

static void test_devices(void)
{
    struct stat st;
    char buf[128];
    const char *null = device(buf, sizeof buf, "null", 3, "/dev/null");
    if (null) {
        CHECK_EQ_I64(atomic_file_check(null, err, sizeof err), 0);
        CHECK_EQ_I64(atomic_file_write(null, "gone\n", 5, err, sizeof err), 0);
        CHECK(lstat(null, &st) == 0 && S_ISCHR(st.st_mode));
        if (null == buf)
            unlink(buf);
    }
    /* a full disk is said, with the device's name */
    const char *full = device(buf, sizeof buf, "full", 7, "/dev/full");
    if (full) {
        CHECK_EQ_I64(atomic_file_write(full, "x\n", 2, err, sizeof err), -ENOSPC);
        CHECK(strncmp(err, full, strlen(full)) == 0 && strstr(err, strerror(ENOSPC)) != NULL);
        CHECK(lstat(full, &st) == 0 && S_ISCHR(st.st_mode));
        if (full == buf)
            unlink(buf);
    }
}

static void test_descriptor(void)
{
    /* /proc/self/fd/N of a regular file (what /dev/stdout is when stdout is a file): written
     * through the descriptor's file, after what it holds, never renamed over */
    char path[128], name[64];
    path_of(path, sizeof path, "stdout.txt");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "summary\n", 8) == 8);
    struct stat before, after;
    CHECK(fstat(fd, &before) == 0);
    snprintf(name, sizeof name, "/proc/self/fd/%d", fd);
    CHECK_EQ_I64(atomic_file_write(name, "{}\n", 3, err, sizeof err), 0);
    CHECK(stat(path, &after) == 0 && after.st_ino == before.st_ino);
    CHECK_EQ_STR(content(path), "summary\n{}\n");
    close(fd);
    unlink(path);
}

static void test_refused(void)
{
    /* a socket, a directory, a missing directory: refused, with the path in the message */
    char path[128], sub[128];
    path_of(path, sizeof path, "sock");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    CHECK(strlen(path) < sizeof sa.sun_path);
    memcpy(sa.sun_path, path, strlen(path) + 1 < sizeof sa.sun_path ? strlen(path) + 1 : 0);
    CHECK(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(atomic_file_check(path, err, sizeof err) < 0);
    CHECK(atomic_file_write(path, "x", 1, err, sizeof err) < 0);
    CHECK(strncmp(err, path, strlen(path)) == 0);
    struct stat st;
    CHECK(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode));
    close(s);
    unlink(path);

    path_of(sub, sizeof sub, "d");
    CHECK(mkdir(sub, 0755) == 0);
    CHECK_EQ_I64(atomic_file_check(sub, err, sizeof err), -EISDIR);
    rmdir(sub);

    path_of(path, sizeof path, "missing/r.json");
    CHECK_EQ_I64(atomic_file_check(path, err, sizeof err), -ENOENT);
    CHECK(strncmp(err, path, strlen(path)) == 0);
    CHECK_EQ_I64(atomic_file_write(path, "x", 1, err, sizeof err), -ENOENT);
    CHECK_EQ_I64(files_in(dir), 0);
}

int main(void)
{
    umask(022);
    snprintf(dir, sizeof dir, "/tmp/herd-test-atomic-XXXXXX");
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    test_regular();
    test_read_only();
    test_symlinks();
    test_fifo();
    test_devices();
    test_descriptor();
    test_refused();
    CHECK(rmdir(dir) == 0);
    return tap_done();
}
