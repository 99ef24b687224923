/* force-rmmod-gen test tree: minimal <linux/types.h> (x86_64). */
#ifndef _LINUX_TYPES_H
#define _LINUX_TYPES_H

#include <linux/stddef.h>

typedef signed char		s8;
typedef unsigned char		u8;
typedef signed short		s16;
typedef unsigned short		u16;
typedef signed int		s32;
typedef unsigned int		u32;
typedef signed long long	s64;
typedef unsigned long long	u64;

typedef unsigned short		umode_t;
typedef unsigned long		size_t;
typedef long			ssize_t;
typedef long			ptrdiff_t;
typedef unsigned long		uintptr_t;
typedef long long		loff_t;
typedef int			pid_t;
typedef unsigned int		gfp_t;
typedef _Bool			bool;

typedef struct {
	int counter;
} atomic_t;

typedef struct {
	long counter;
} atomic64_t;

typedef atomic64_t atomic_long_t;

struct list_head {
	struct list_head *next, *prev;
};

/* In <linux/list.h> in 2.6.32 (with list_head), in <linux/types.h> by 3.18. */
struct hlist_head {
	struct hlist_node *first;
};

struct hlist_node {
	struct hlist_node *next, **pprev;
};

/* A task work or RCU callback (3.6 on; checked 3.10, 3.18, 6.1, 6.12). */
struct callback_head {
	struct callback_head *next;
	void (*func)(struct callback_head *head);
};

#endif
