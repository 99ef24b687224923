// SPDX-License-Identifier: GPL-2.0
/*
 * holdopen - hold a device file open in a way a scan of thread-group
 * leaders' descriptor tables does not see.
 *
 * usage: holdopen MODE PATH
 *   leader-exit  a second thread shares the descriptor table holding PATH;
 *                the main thread exits alone (the exit system call, as
 *                pthread_exit() ends in): the process lives on with a
 *                zombie leader whose files are gone
 *   own-table    a second thread unshares its descriptor table
 *                (unshare(CLONE_FILES)) and opens PATH there: the leader's
 *                table never holds it
 *   mapped       PATH is mapped and its descriptor closed: only the mapping
 *                holds the file
 * Prints "holdopen: ready" once PATH is held, then sleeps until killed.
 * Built on the host and copied into the initramfs, like modcall.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *path;

static void ready(void)
{
	printf("holdopen: ready\n");
	fflush(stdout);
}

static void *hold(void *own_table)
{
	if (own_table && unshare(CLONE_FILES)) {
		perror("holdopen: unshare");
		_exit(1);
	}
	if (open(path, O_RDONLY) < 0) {
		perror("holdopen: open");
		_exit(1);
	}
	ready();
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: holdopen leader-exit|own-table|mapped PATH\n");
		return 2;
	}
	path = argv[2];
	if (!strcmp(argv[1], "mapped")) {
		fd = open(path, O_RDONLY);
		if (fd < 0 || mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED) {
			perror("holdopen: open/mmap");
			return 1;
		}
		close(fd);
		ready();
		for (;;)
			pause();
	}
	if (strcmp(argv[1], "leader-exit") && strcmp(argv[1], "own-table")) {
		fprintf(stderr, "holdopen: unknown mode %s\n", argv[1]);
		return 2;
	}
	if (pthread_create(&t, NULL, hold, !strcmp(argv[1], "own-table") ? (void *)1 : NULL))
		return 1;
	if (!strcmp(argv[1], "leader-exit")) {
		/*
		 * Not pthread_exit(): it unwinds through libgcc_s, which the
		 * initramfs does not carry. SYS_exit ends this thread only.
		 */
		sleep(1);
		syscall(SYS_exit, 0);
	}
	for (;;)
		pause();
}
