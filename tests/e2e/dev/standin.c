// SPDX-License-Identifier: GPL-2.0
/*
 * standin - a minimal era E (3.19+) force_rmmod used only to develop the
 * e2e harness before force-rmmod-gen could build the real helper.
 *
 * tests/e2e/run uses it only with FRG_E2E_STANDIN=1, and then reports the
 * run as a FAIL ("helper-is-real"): it is not the product under test.
 */
#define pr_fmt(fmt) "force_rmmod: " fmt

#include <linux/atomic.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/preempt.h>
#include <linux/rculist.h>
#include <linux/string.h>

#define FRG_MODULE_REF_BASE 1	/* kernel/module: defined in .c only */

/*
 * struct module_use left <linux/module.h> by 7.2 (kernel-internal now); its
 * layout has not changed since 2.6.35, so the stand-in carries its own copy.
 */
struct standin_module_use {
	struct list_head source_list;
	struct list_head target_list;
	struct module *source, *target;
};

static char *modname;
module_param(modname, charp, 0444);
static bool dry_run;
module_param(dry_run, bool, 0444);
static bool force_deps;
module_param(force_deps, bool, 0444);

static struct module *standin_find(const char *name)
{
	struct module *mod;

	list_for_each_entry_rcu(mod, &THIS_MODULE->list, list)
		if (!strcmp(mod->name, name))
			return mod;
	return NULL;
}

static int __init standin_init(void)
{
	struct standin_module_use *use;
	struct module *mod;
	int ret = 0;

	if (!modname || !*modname) {
		pr_err("modname= is required\n");
		return -EINVAL;
	}
	if (!strcmp(modname, THIS_MODULE->name)) {
		pr_err("refusing to reset myself\n");
		return -EINVAL;
	}

	preempt_disable();
	mod = standin_find(modname);
	if (!mod) {
		pr_err("module %s not found\n", modname);
		ret = -ENOENT;
		goto out;
	}
	if (mod->state != MODULE_STATE_LIVE) {
		pr_err("%s is not live (state %d)\n", modname, mod->state);
		ret = -EBUSY;
		goto out;
	}
	list_for_each_entry(use, &mod->source_list, source_list) {
		pr_err("%s is used by %s\n", modname, use->source->name);
		ret = -EBUSY;
	}
	if (ret && !force_deps)
		goto out;
	ret = 0;
	pr_info("%s refcount is %d\n", modname, module_refcount(mod));
	pr_warn("a reference may be real (open file, mount): forcing frees code still in use\n");
	if (dry_run) {
		pr_info("dry run: nothing changed\n");
		goto out;
	}
	atomic_set(&mod->refcnt, FRG_MODULE_REF_BASE);
	pr_info("%s refcount reset to 0\n", modname);
out:
	preempt_enable();
	return ret;
}

static void __exit standin_exit(void)
{
}

module_init(standin_init);
module_exit(standin_exit);
MODULE_DESCRIPTION("force-rmmod-gen e2e development stand-in (era E)");
MODULE_LICENSE("GPL");
