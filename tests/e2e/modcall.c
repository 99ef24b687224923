// SPDX-License-Identifier: GPL-2.0
/*
 * modcall - load a module and print the exact errno the kernel returned.
 *
 * kmod's insmod turns errno into prose ("Unknown symbol in module" for
 * ENOENT) and busybox's into other prose; the e2e scenarios must check the
 * helper's errno exactly (ENOENT, EBUSY, EINVAL). Built statically on the
 * host and copied into the initramfs. finit_module(2), or init_module(2)
 * on kernels before 3.8 (ENOSYS); the file's size comes from lseek, not
 * fstat, which current C libraries make with AT_EMPTY_PATH (2.6.39+).
 *
 * usage: modcall FILE.ko [PARAM=VALUE...]
 * prints "modcall: ok" or "modcall: errno NAME (N)"; exits 0 or with errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *errno_name(int err)
{
	switch (err) {
	case ENOENT: return "ENOENT";
	case EBUSY: return "EBUSY";
	case EINVAL: return "EINVAL";
	case EEXIST: return "EEXIST";
	case EPERM: return "EPERM";
	case ENOEXEC: return "ENOEXEC";
	case EKEYREJECTED: return "EKEYREJECTED";
	case EAGAIN: return "EAGAIN";
	case ENODEV: return "ENODEV";
	case ESRCH: return "ESRCH";
	case ESTALE: return "ESTALE";
	case EIO: return "EIO";
	case EINTR: return "EINTR";
	case ETXTBSY: return "ETXTBSY";
	case ENODATA: return "ENODATA";
	default: return "OTHER";
	}
}

/* init_module(2) with FD's contents; 0 or the errno. */
static int init_module_from(int fd, const char *params)
{
	off_t size = lseek(fd, 0, SEEK_END);
	char *image;
	ssize_t got = 0, n;

	if (size <= 0 || lseek(fd, 0, SEEK_SET) != 0)
		return errno ? errno : EINVAL;
	image = malloc(size);
	if (!image)
		return ENOMEM;
	while (got < size && (n = read(fd, image + got, size - got)) > 0)
		got += n;
	if (got != size)
		return EIO;
	return syscall(SYS_init_module, image, (unsigned long)size, params) == 0 ? 0 : errno;
}

int main(int argc, char **argv)
{
	char params[4096] = "";
	size_t used = 0;
	int fd, i;

	if (argc < 2) {
		fprintf(stderr, "usage: modcall FILE.ko [PARAM=VALUE...]\n");
		return 2;
	}
	for (i = 2; i < argc; i++) {
		int n = snprintf(params + used, sizeof(params) - used, "%s%s",
				 used ? " " : "", argv[i]);

		if (n < 0 || (size_t)n >= sizeof(params) - used) {
			fprintf(stderr, "modcall: parameters too long\n");
			return 2;
		}
		used += n;
	}

	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "modcall: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	if (syscall(SYS_finit_module, fd, params, 0) == 0) {
		printf("modcall: ok\n");
		return 0;
	}
	i = errno;
	if (i == ENOSYS)
		i = init_module_from(fd, params);
	if (i == 0) {
		printf("modcall: ok\n");
		return 0;
	}
	printf("modcall: errno %s (%d)\n", errno_name(i), i);
	return i;
}
