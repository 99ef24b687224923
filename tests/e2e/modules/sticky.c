// SPDX-License-Identifier: GPL-2.0
/*
 * sticky - a module whose count comes back at once after a reset, the
 * way a real user's would: it leaked a reference to itself at load, and
 * when the next module after it goes live (the helper, whose reset has
 * then just happened) it takes one more reference on itself, once. The
 * rmmod right after the reset then fails: the case in which `unload`
 * must give the references the reset took back (restore=N).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/module.h>
#include <linux/notifier.h>

static bool retaken;

static int sticky_notify(struct notifier_block *nb, unsigned long state,
			 void *data)
{
	struct module *mod = data;

	if (state != MODULE_STATE_LIVE || retaken || mod == THIS_MODULE)
		return NOTIFY_DONE;
	retaken = true;
	__module_get(THIS_MODULE);
	pr_info("%s went live: took a reference on myself again\n", mod->name);
	return NOTIFY_DONE;
}

static struct notifier_block sticky_nb = {
	.notifier_call = sticky_notify,
};

static int __init sticky_init(void)
{
	__module_get(THIS_MODULE);
	pr_info("took a reference on myself\n");
	return register_module_notifier(&sticky_nb);
}

static void __exit sticky_exit(void)
{
	unregister_module_notifier(&sticky_nb);
}

module_init(sticky_init);
module_exit(sticky_exit);
MODULE_DESCRIPTION("force-rmmod-gen test: a count that comes back right after a reset");
MODULE_LICENSE("GPL");
