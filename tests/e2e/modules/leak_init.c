// SPDX-License-Identifier: GPL-2.0
/*
 * leak_init - leaks a reference to itself from its init function, through
 * a helper.
 *
 * leak_init_take() ends with the call to __module_get(), which the
 * compiler turns into a tail call (a jump) where the kernel is built
 * without frame pointers: its frame is gone, and the first frame inside
 * the module is leak_init_init(), in .init.text. That section is freed
 * when the load finishes, and its symbols leave /proc/kallsyms, usually
 * before `force-rmmod-gen trace` reads the events. Kernels built with
 * frame pointers keep the helper's frame (no sibling calls).
 *
 * leak_init_other() and leak_init_exit() are the module's other functions,
 * in .text and .exit.text: an init-section frame must never be given to
 * them (they are the nearest symbols below wherever the init section was).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/module.h>

static noinline void leak_init_take(void)
{
	__module_get(THIS_MODULE); /* the leaked reference */
}

static int calls;
module_param(calls, int, 0444);

static noinline void leak_init_other(void)
{
	calls++;
	pr_info("called %d times\n", calls);
}

static int __init leak_init_init(void)
{
	leak_init_take();
	pr_info("took a reference on myself from init and will never drop it\n");
	return 0;
}

static void __exit leak_init_exit(void)
{
	leak_init_other();
}

module_init(leak_init_init);
module_exit(leak_init_exit);
MODULE_DESCRIPTION("force-rmmod-gen test: leaks a reference to itself from init, through a tail-called helper");
MODULE_LICENSE("GPL");
