// SPDX-License-Identifier: GPL-2.0
/*
 * bad_debug - commits one bug, chosen by bug=, in its init, so that the QEMU
 * suite can prove its kernel-log checks catch what a debug kernel reports:
 *
 *   bug=atomic_sleep  takes a mutex while holding a spinlock
 *                     (CONFIG_DEBUG_ATOMIC_SLEEP: "BUG: sleeping function
 *                     called from invalid context")
 *   bug=lockdep       takes two mutexes in both orders, one after the other
 *                     (CONFIG_PROVE_LOCKING: "possible circular locking
 *                     dependency detected"; nothing deadlocks, one thread)
 *   bug=kasan         reads a kmalloc'd byte after kfree
 *                     (CONFIG_KASAN: "BUG: KASAN: slab-use-after-free")
 *
 * init returns 0 either way, so the module loads and unloads normally: only
 * the kernel's own report shows that something was wrong. Never load it
 * anywhere but a throw-away VM.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/compiler.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>

static char *bug = "";
module_param(bug, charp, 0444);
MODULE_PARM_DESC(bug, "atomic_sleep, lockdep or kasan");

static DEFINE_SPINLOCK(bad_spin);
static DEFINE_MUTEX(bad_a);
static DEFINE_MUTEX(bad_b);

/* With lockdep on, lockdep reports this too ("Invalid wait context"). */
static void sleep_in_atomic(void)
{
	spin_lock(&bad_spin);
	mutex_lock(&bad_a);	/* may sleep: not allowed under a spinlock */
	mutex_unlock(&bad_a);
	spin_unlock(&bad_spin);
}

static void lock_inversion(void)
{
	mutex_lock(&bad_a);
	mutex_lock(&bad_b);
	mutex_unlock(&bad_b);
	mutex_unlock(&bad_a);

	mutex_lock(&bad_b);
	mutex_lock(&bad_a);	/* b -> a after a -> b: a possible deadlock */
	mutex_unlock(&bad_a);
	mutex_unlock(&bad_b);
}

static int use_after_free(void)
{
	char *p = kmalloc(32, GFP_KERNEL);
	char c;

	if (!p)
		return -ENOMEM;
	memset(p, 'x', 32);
	kfree(p);
	OPTIMIZER_HIDE_VAR(p);
	c = READ_ONCE(p[3]);	/* the freed object */
	pr_info("read %#x from a freed object\n", c);
	return 0;
}

static int __init bad_debug_init(void)
{
	pr_info("committing bug '%s'\n", bug);
	if (!strcmp(bug, "atomic_sleep"))
		sleep_in_atomic();
	else if (!strcmp(bug, "lockdep"))
		lock_inversion();
	else if (!strcmp(bug, "kasan"))
		return use_after_free();
	else
		return -EINVAL;
	return 0;
}

static void __exit bad_debug_exit(void)
{
	pr_info("unloaded\n");
}

module_init(bad_debug_init);
module_exit(bad_debug_exit);
MODULE_DESCRIPTION("force-rmmod-gen test: commits a bug the debug kernel reports");
MODULE_LICENSE("GPL");
