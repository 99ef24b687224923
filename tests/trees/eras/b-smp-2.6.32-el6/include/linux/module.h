/*
 * force-rmmod-gen test tree, era B: <linux/module.h> from 2.6.29 to 2.6.33
 * and RHEL/CentOS 6 (2.6.32-xxx.el6), reduced to what the tool and its
 * helper touch.  Written for the tests after reading 2.6.29/2.6.30-era and
 * 2.6.32.y headers: the counts moved to the end of the CONFIG_MODULE_UNLOAD
 * block, a per-cpu allocation of local_t reached through the char pointer
 * refptr (SMP) or a single local_t (UP), via __module_ref_addr().
 * find_module(), module_mutex and __module_address() appear in 2.6.30.
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

	void *percpu;
	char *args;

#ifdef CONFIG_MODULE_UNLOAD
	/* What modules depend on me? */
	struct list_head modules_which_use_me;

	/* Who is waiting for us to be unloaded */
	struct task_struct *waiter;

	/* Destruction function. */
	void (*exit)(void);

#ifdef CONFIG_SMP
	char *refptr;
#else
	local_t ref;
#endif
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

static inline local_t *__module_ref_addr(struct module *mod, int cpu)
{
#ifdef CONFIG_SMP
	return (local_t *)(mod->refptr + per_cpu_offset(cpu));
#else
	return &mod->ref;
#endif
}

static inline void __module_get(struct module *module)
{
	if (module) {
		local_inc(__module_ref_addr(module, get_cpu()));
		put_cpu();
	}
}

static inline int try_module_get(struct module *module)
{
	int ret = 1;

	if (module) {
		unsigned int cpu = get_cpu();

		if (likely(module_is_live(module)))
			local_inc(__module_ref_addr(module, cpu));
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

int use_module(struct module *a, struct module *b);

int register_module_notifier(struct notifier_block *nb);
int unregister_module_notifier(struct notifier_block *nb);

#endif /* _LINUX_MODULE_H */
