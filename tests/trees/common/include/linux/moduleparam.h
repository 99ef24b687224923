/* force-rmmod-gen test tree: minimal <linux/moduleparam.h>.
 * module_param() type-checks the variable like the kernel does and records
 * the parameter in .modinfo and __param; it needs no kernel symbol. */
#ifndef _LINUX_MODULE_PARAMS_H
#define _LINUX_MODULE_PARAMS_H

#include <linux/init.h>
#include <linux/stringify.h>
#include <linux/kernel.h>
#include <linux/version.h>

#define MAX_PARAM_PREFIX_LEN (64 - sizeof(unsigned long))

#define __MODULE_INFO(tag, name, info)					\
	static const char __UNIQUE_ID(name)[]				\
	__used __section(".modinfo") __aligned(1)			\
	= __stringify(tag) "=" info

#define __MODULE_PARM_TYPE(name, _type)					\
	__MODULE_INFO(parmtype, name##type, #name ":" _type)

struct kernel_param {
	const char *name;
	void *arg;
	u16 perm;
};

#define __param_check(name, p, type)					\
	static inline type __always_unused *__check_##name(void) { return (p); }

#define param_check_byte(name, p)	__param_check(name, p, unsigned char)
#define param_check_short(name, p)	__param_check(name, p, short)
#define param_check_ushort(name, p)	__param_check(name, p, unsigned short)
#define param_check_int(name, p)	__param_check(name, p, int)
#define param_check_uint(name, p)	__param_check(name, p, unsigned int)
#define param_check_long(name, p)	__param_check(name, p, long)
#define param_check_ulong(name, p)	__param_check(name, p, unsigned long)
#define param_check_charp(name, p)	__param_check(name, p, char *)
/* Up to 2.6.30 param_set_bool() stores through an int pointer. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(2, 6, 31)
#define param_check_bool(name, p)	__param_check(name, p, int)
#define param_check_invbool(name, p)	__param_check(name, p, int)
#else
#define param_check_bool(name, p)	__param_check(name, p, bool)
#define param_check_invbool(name, p)	__param_check(name, p, bool)
#endif

#define module_param_named(name, value, type, perm)			\
	param_check_##type(name, &(value));				\
	static const struct kernel_param __param_##name			\
	__used __section("__param") __aligned(sizeof(void *))		\
	= { __stringify(name), &(value), (perm) };			\
	__MODULE_PARM_TYPE(name, #type)

#define module_param(name, type, perm)					\
	module_param_named(name, name, type, perm)

#endif
