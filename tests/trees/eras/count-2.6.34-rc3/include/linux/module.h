/*
 * force-rmmod-gen test tree, the transient "count" shape: <linux/module.h>
 * during the 2.6.34 merge window and early -rc, reduced to what the tool
 * and its helper touch.  "module: Use this_cpu_xx to dynamically allocate
 * counters" (e1783a240f49) replaced era B's char *refptr by a per-cpu
 * struct with one int; Tejun Heo's __percpu annotation series (Jan 2010)
 * shows it as "struct module_ref { int count; } *refptr" inside struct
 * module.  It became incs/decs (era C) before 2.6.34 was released.
 */
#ifndef _LINUX_MODULE_H
#define _LINUX_MODULE_H

#include <linux/list.h>
#include <linux/compiler.h>
#include <linux/cache.h>
#include <linux/stringify.h>
#include <linux/moduleparam.h>
#include <linux/percpu.h>
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
	unsigned int init_size, core_size;

	struct mod_arch_specific arch;
	unsigned int taints;

	void __percpu *percpu;
	char *args;

#ifdef CONFIG_MODULE_UNLOAD
	/* What modules depend on me? */
	struct list_head modules_which_use_me;

	/* Who is waiting for us to be unloaded */
	struct task_struct *waiter;

	/* Destruction function. */
	void (*exit)(void);

	struct module_ref {
		int count;
	} __percpu *refptr;
#endif
};

extern struct mutex module_mutex;

static inline int module_is_live(struct module *mod)
{
	return mod->state != MODULE_STATE_GOING;
}

struct module *__module_text_address(unsigned long addr);
struct module *__module_address(unsigned long addr);

/* Search for module by name: must hold module_mutex. */
struct module *find_module(const char *name);

#ifdef CONFIG_MODULE_UNLOAD
unsigned int module_refcount(struct module *mod);

static inline void __module_get(struct module *module)
{
	if (module) {
		preempt_disable();
		__this_cpu_inc(module->refptr->count);
		preempt_enable();
	}
}

static inline int try_module_get(struct module *module)
{
	int ret = 1;

	if (module) {
		preempt_disable();
		if (likely(module_is_live(module)))
			__this_cpu_inc(module->refptr->count);
		else
			ret = 0;
		preempt_enable();
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

int use_module(struct module *a, struct module *b);

int register_module_notifier(struct notifier_block *nb);
int unregister_module_notifier(struct notifier_block *nb);

#endif /* _LINUX_MODULE_H */
