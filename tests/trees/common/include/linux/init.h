/* force-rmmod-gen test tree: minimal <linux/init.h> (module build). */
#ifndef _LINUX_INIT_H
#define _LINUX_INIT_H

#include <linux/compiler.h>

#define __init		__section(".init.text") __cold notrace
#define __initdata	__section(".init.data")
#define __initconst	__section(".init.rodata")
#define __exit		__section(".exit.text") __cold notrace
#define __exitdata	__section(".exit.data")

typedef int (*initcall_t)(void);
typedef void (*exitcall_t)(void);

#if defined(__has_attribute) && __has_attribute(__copy__)
#define __fk_copy(fn)	__attribute__((__copy__(fn)))
#else
#define __fk_copy(fn)
#endif

/* The module loader calls init_module()/cleanup_module(): alias them. */
#define module_init(initfn)						\
	static inline initcall_t __maybe_unused __inittest(void)	\
	{ return initfn; }						\
	int init_module(void) __fk_copy(initfn) __attribute__((__alias__(#initfn)))

#define module_exit(exitfn)						\
	static inline exitcall_t __maybe_unused __exittest(void)	\
	{ return exitfn; }						\
	void cleanup_module(void) __fk_copy(exitfn) __attribute__((__alias__(#exitfn)))

#endif
