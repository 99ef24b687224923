/*
 * force-rmmod-gen test tree, era E as of 6.6: <linux/module.h> reduced to
 * what the tool and its helper touch.  Written for the tests after reading
 * 5.x/6.x headers: atomic_t refcnt as since 3.19; the module memory is
 * described by mem[] (6.4).  Since 5.12 module_mutex is static (its extern
 * declaration left this header) and find_module() is no longer exported,
 * although it is still declared here: code using it compiles, then fails
 * at modpost.  __module_address() is declared but unexported since 5.12.
 */
#ifndef _LINUX_MODULE_H
#define _LINUX_MODULE_H

#include <linux/list.h>
#include <linux/compiler.h>
#include <linux/cache.h>
#include <linux/stringify.h>
#include <linux/init.h>
#include <linux/moduleparam.h>
#include <linux/percpu.h>
#include <linux/atomic.h>

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

enum mod_mem_type {
	MOD_TEXT = 0,
	MOD_DATA,
	MOD_RODATA,
	MOD_RO_AFTER_INIT,
	MOD_INIT_TEXT,
	MOD_INIT_DATA,
	MOD_INIT_RODATA,

	MOD_MEM_NUM_TYPES,
	MOD_INVALID = -1,
};

struct module_memory {
	void *base;
	unsigned int size;
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

	struct module_memory mem[MOD_MEM_NUM_TYPES] ____cacheline_aligned;

	struct mod_arch_specific arch;
	unsigned long taints;

	void __percpu *percpu;
	unsigned int percpu_size;
	char *args;

#ifdef CONFIG_MODULE_UNLOAD
	/* What modules depend on me? */
	struct list_head source_list;
	/* What modules do I depend on? */
	struct list_head target_list;

	/* Destruction function. */
	void (*exit)(void);

	atomic_t refcnt;
#endif
} ____cacheline_aligned __randomize_layout;

static inline bool module_is_live(struct module *mod)
{
	return mod->state != MODULE_STATE_GOING;
}

struct module *__module_text_address(unsigned long addr);
struct module *__module_address(unsigned long addr);

/* Search for module by name: must be in a RCU-sched critical section. */
struct module *find_module(const char *name);

#ifdef CONFIG_MODULE_UNLOAD
int module_refcount(struct module *mod);

/* Out of line and exported in this era. */
extern void __module_get(struct module *module);
extern bool try_module_get(struct module *module);
extern void module_put(struct module *module);
#else
static inline bool try_module_get(struct module *module)
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
