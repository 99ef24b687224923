// SPDX-License-Identifier: GPL-2.0
/*
 * rmmod_wait - remove a module with the blocking delete_module().
 *
 * kmod's and busybox's rmmod pass O_NONBLOCK. Without it, kernels up to
 * 3.12 and every RHEL/CentOS 7 kernel mark a busy module GOING and put the
 * caller to sleep (TASK_UNINTERRUPTIBLE, on mod->waiter) until its count
 * drops to 0. The e2e suite leaves this program sleeping on a module with
 * a leaked count and checks that force_rmmod wake_waiter=1 releases it.
 * Built on the host and copied into the initramfs, like modcall.
 *
 * usage: rmmod_wait NAME
 * prints "rmmod_wait: ok" or "rmmod_wait: errno N (text)"; exits 0 or errno.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: rmmod_wait NAME\n");
		return 2;
	}
	if (syscall(SYS_delete_module, argv[1], 0) == 0) {
		printf("rmmod_wait: ok\n");
		return 0;
	}
	err = errno;
	printf("rmmod_wait: errno %d (%s)\n", err, strerror(err));
	return err;
}
