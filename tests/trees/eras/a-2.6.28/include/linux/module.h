/*
 * force-rmmod-gen test tree, era A: <linux/module.h> as of 2.6.28 and
 * earlier, reduced to what the tool and its helper touch.  Written for the
 * tests after reading the 2.6.18-2.6.28 headers: the per-CPU counts are an
 * array of cache-line aligned local_t inside struct module, in the
 * CONFIG_MODULE_UNLOAD block with the dependents list, waiter and exit.
 * find_module() and module_mutex are static in kernel/module.c (exported
 * and declared here only from 2.6.30), and there is no __module_address().
 */
#ifndef _LINUX_MODULE_H
#define _LINUX_MODULE_H

#include <linux/list.h>
#include <linux/compiler.h>
#include <linux/cache.h>
#include <linux/stringify.h>
#include <linux/moduleparam.h>
#include <asm/local.h>
#include <asm/module.h>

#define MODULE_NAME_LEN MAX_PARAM_PREFIX_LEN

struct task_struct;
struct notifier_block;
struct mutex;

/* These are either module local, or the kernel's dummy ones. */
extern int init_module(void);
extern void cleanup_module(void);

#ifdef MODULE
extern struct module __this_module;
#define THIS_MODULE (&__this_module)
#else
#define THIS_MODULE ((struct module *)0)
#endif

#define MODULE_INFO(tag, info)		__MODULE_INFO(tag, tag, info)
#define MODULE_ALIAS(_alias)		MODULE_INFO(alias, _alias)
#define MODULE_LICENSE(_license)	MODULE_INFO(license, _license)
#define MODULE_AUTHOR(_author)		MODULE_INFO(author, _author)
#define MODULE_DESCRIPTION(_desc)	MODULE_INFO(description, _desc)
#define MODULE_VERSION(_version)	MODULE_INFO(version, _version)
#define MODULE_PARM_DESC(_parm, desc)	__MODULE_INFO(parm, _parm, #_parm ":" desc)

struct module_ref {
	local_t count;
} ____cacheline_aligned;

enum module_state {
	MODULE_STATE_LIVE,
	MODULE_STATE_COMING,
	MODULE_STATE_GOING,
};

struct module {
	enum module_state state;

	/* Member of list of modules */
	struct list_head list;

	/* Unique handle for this module */
	char name[MODULE_NAME_LEN];

	const char *version;
	const char *srcversion;

	/* Startup function. */
	int (*init)(void);

	void *module_init;
	void *module_core;
	unsigned long init_size, core_size;

	struct mod_arch_specific arch;
	unsigned int taints;

#ifdef CONFIG_MODULE_UNLOAD
	/* Reference counts: one slot per possible CPU */
	struct module_ref ref[NR_CPUS];

	/* What modules depend on me? */
	struct list_head modules_which_use_me;

	/* Who is waiting for us to be unloaded */
	struct task_struct *waiter;

	/* Destruction function. */
	void (*exit)(void);
#endif

	void *percpu;
	char *args;
};

static inline int module_is_live(struct module *mod)
{
	return mod->state != MODULE_STATE_GOING;
}

#ifdef CONFIG_MODULE_UNLOAD
unsigned int module_refcount(struct module *mod);

static inline void __module_get(struct module *module)
{
	if (module) {
		local_inc(&module->ref[get_cpu()].count);
		put_cpu();
	}
}

static inline int try_module_get(struct module *module)
{
	int ret = 1;

	if (module) {
		unsigned int cpu = get_cpu();

		if (likely(module_is_live(module)))
			local_inc(&module->ref[cpu].count);
		else
			ret = 0;
		put_cpu();
	}
	return ret;
}

extern void module_put(struct module *module);
#else
static inline int try_module_get(struct module *module)
{
	return !module || module_is_live(module);
}
static inline void module_put(struct module *module)
{
}
static inline void __module_get(struct module *module)
{
}
#endif

int register_module_notifier(struct notifier_block *nb);
int unregister_module_notifier(struct notifier_block *nb);

#endif /* _LINUX_MODULE_H */
