// SPDX-License-Identifier: GPL-2.0
/*
 * refloop - a busy module for the trace benchmark (bench/run trace): a
 * kernel thread that takes and drops a reference on the module in a loop,
 * balanced, at a set rate.
 *
 *	echo 2000 > /sys/module/refloop/parameters/rate   pairs per second (0: flat out)
 *	echo 3000 > /sys/module/refloop/parameters/run_ms starts a run of 3 s
 *	cat /sys/module/refloop/parameters/run_ms          0 once the run is over
 *	cat /sys/module/refloop/parameters/done            pairs the run made
 *	cat /sys/module/refloop/parameters/took_ms         how long it took
 *
 * One pair is a try_module_get() and a module_put(): two trace events. The
 * thread paces itself by the clock: it catches up in a burst, then sleeps
 * a tick, so the rate holds while the CPU keeps up, and `done` falls short
 * of rate * run_ms / 1000 once it does not (a slower workload).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/sched.h>

static unsigned long rate;
module_param(rate, ulong, 0644);
MODULE_PARM_DESC(rate, "get/put pairs per second (0: as fast as possible)");
static unsigned int run_ms;
module_param(run_ms, uint, 0644);
MODULE_PARM_DESC(run_ms, "write N to start a run of N ms; 0 again when it is over");
static unsigned long done;
module_param(done, ulong, 0444);
MODULE_PARM_DESC(done, "get/put pairs of the last run");
static unsigned long took_ms;
module_param(took_ms, ulong, 0444);
MODULE_PARM_DESC(took_ms, "how long the last run took, ms");

static struct task_struct *thread;

static noinline void refloop_pair(void)
{
	if (try_module_get(THIS_MODULE))
		module_put(THIS_MODULE);
}

/* A plain volatile access: ACCESS_ONCE (to 4.14) and READ_ONCE (3.19+) are not on every kernel. */
#define REFLOOP_ONCE(x) (*(volatile typeof(x) *)&(x))

static void refloop_run(unsigned int ms)
{
	s64 start = ktime_to_ns(ktime_get()), now = start;
	s64 end = start + (s64)ms * 1000000;
	unsigned long n = 0, r = rate;
	u64 due;

	while (now < end && !kthread_should_stop()) {
		/* The pairs due by now at the set rate; flat out, 1000 more. */
		due = r ? div_u64((u64)(now - start) * r, 1000000000) : n + 1000;
		while (n < due) {
			refloop_pair();
			n++;
			if (!(n & 255))
				cond_resched();
		}
		if (r)
			schedule_timeout_interruptible(1);
		now = ktime_to_ns(ktime_get());
	}
	done = n;
	took_ms = (unsigned long)div_u64((u64)(now - start), 1000000);
}

static int refloop_thread(void *unused)
{
	unsigned int ms;

	while (!kthread_should_stop()) {
		ms = REFLOOP_ONCE(run_ms);
		if (ms) {
			refloop_run(ms);
			REFLOOP_ONCE(run_ms) = 0;
		}
		schedule_timeout_interruptible(HZ / 50 + 1);
	}
	return 0;
}

static int __init refloop_init(void)
{
	thread = kthread_run(refloop_thread, NULL, "refloop");
	return IS_ERR(thread) ? PTR_ERR(thread) : 0;
}

static void __exit refloop_exit(void)
{
	kthread_stop(thread);
}

module_init(refloop_init);
module_exit(refloop_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("takes and drops references on itself at a set rate (trace benchmark)");
