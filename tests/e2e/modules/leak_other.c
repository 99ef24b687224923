// SPDX-License-Identifier: GPL-2.0
/*
 * leak_other - a module that leaks a reference on another module.
 *
 * Load it first, then load the module named by "target" (default: victim).
 * leak_other's module notifier sees the target go LIVE and takes a reference
 * on it with try_module_get(); nothing drops it, not even leak_other's exit.
 *
 * Why a notifier: the obvious ways to reach another module's struct module
 * do not work on every kernel from 5.10 to 7.x, or leave more behind than a
 * count. find_module() is not exported from 5.12 on (nor on Debian's 5.10);
 * using an exported symbol of the target makes the target list us as a
 * holder (source_list), and then rmmod refuses for that reason instead;
 * an address passed in from /sys/module/X/sections trusts user input.
 * register_module_notifier() and try_module_get() are exported on every
 * kernel and hand us the target's struct module directly, so the only
 * trace left on the target is the leaked reference.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/module.h>
#include <linux/notifier.h>
#include <linux/string.h>

static char *target = "victim";
module_param(target, charp, 0444);
MODULE_PARM_DESC(target, "name of the module to leak a reference on");

static bool leaked;

static int leak_other_notify(struct notifier_block *nb, unsigned long state,
			     void *data)
{
	struct module *mod = data;

	if (state != MODULE_STATE_LIVE || leaked || strcmp(mod->name, target))
		return NOTIFY_DONE;

	if (try_module_get(mod)) {
		leaked = true;
		pr_info("took a reference on %s and will never drop it\n",
			mod->name);
	} else {
		pr_err("could not take a reference on %s\n", mod->name);
	}
	return NOTIFY_DONE;
}

static struct notifier_block leak_other_nb = {
	.notifier_call = leak_other_notify,
};

static int __init leak_other_init(void)
{
	pr_info("waiting for %s to load\n", target);
	return register_module_notifier(&leak_other_nb);
}

static void __exit leak_other_exit(void)
{
	unregister_module_notifier(&leak_other_nb);
	pr_info("unloaded, %s reference %s\n", target,
		leaked ? "leaked" : "never taken");
}

module_init(leak_other_init);
module_exit(leak_other_exit);
MODULE_DESCRIPTION("force-rmmod-gen test: leaks a reference on another module");
MODULE_LICENSE("GPL");
