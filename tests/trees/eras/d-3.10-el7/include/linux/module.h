/*
 * force-rmmod-gen test tree, era D: <linux/module.h> from 3.3 to 3.18 and
 * every RHEL/CentOS 7 (3.10.0-xxx.el7), reduced to what the tool and its
 * helper touch.  Written for the tests after reading 3.x headers: struct
 * module_ref is now top level with unsigned long incs/decs, aligned to two
 * longs; MODULE_STATE_UNFORMED appeared in 3.8; waiter is still there
 * (removed upstream in 3.13, kept by RHEL 7); module_refcount() returns
 * unsigned long.
 */
#ifndef _LINUX_MODULE_H
#define _LINUX_MODULE_H

#include <linux/list.h>
#include <linux/compiler.h>
#include <linux/cache.h>
#include <linux/stringify.h>
#include <linux/moduleparam.h>
#include <linux/percpu.h>
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

/* modules using other modules */
struct module_use {
	struct list_head source_list;
	struct list_head target_list;
	struct module *source, *target;
};

enum module_state {
	MODULE_STATE_LIVE,	/* Normal state. */
	MODULE_STATE_COMING,	/* Full formed, running module_init. */
	MODULE_STATE_GOING,	/* Going away. */
	MODULE_STATE_UNFORMED,	/* Still setting it up. */
};

/*
 * Per-cpu reference counts: gets on this cpu and puts on this cpu; aligned
 * so both halves share a cache line.
 */
struct module_ref {
	unsigned long incs;
	unsigned long decs;
} __attribute((aligned(2 * sizeof(unsigned long))));

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
	unsigned int percpu_size;
	char *args;

#ifdef CONFIG_MODULE_UNLOAD
	/* What modules depend on me? */
	struct list_head source_list;
	/* What modules do I depend on? */
	struct list_head target_list;

	/* Who is waiting for us to be unloaded */
	struct task_struct *waiter;

	/* Destruction function. */
	void (*exit)(void);

	struct module_ref __percpu *refptr;
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
unsigned long module_refcount(struct module *mod);

static inline void __module_get(struct module *module)
{
	if (module) {
		preempt_disable();
		__this_cpu_inc(module->refptr->incs);
		preempt_enable();
	}
}

static inline int try_module_get(struct module *module)
{
	int ret = 1;

	if (module) {
		preempt_disable();
		if (likely(module_is_live(module)))
			__this_cpu_inc(module->refptr->incs);
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

int ref_module(struct module *a, struct module *b);

int register_module_notifier(struct notifier_block *nb);
int unregister_module_notifier(struct notifier_block *nb);

#endif /* _LINUX_MODULE_H */
