/* force-rmmod-gen test tree: minimal <linux/maple_tree.h> (6.1 on, as of
 * 6.6.47): a search state starts at MAS_START (6.12 has a status
 * field), mas_find() is EXPORT_SYMBOL_GPL (lib/maple_tree.c). */
#ifndef _LINUX_MAPLE_TREE_H
#define _LINUX_MAPLE_TREE_H

#include <linux/kernel.h>
#include <linux/spinlock.h>

struct maple_enode;

struct maple_tree {
	spinlock_t ma_lock;
	unsigned int ma_flags;
	void *ma_root;
};

/* A position in a walk: the tree, the index range sought, the node reached. */
struct ma_state {
	struct maple_tree *tree;
	unsigned long index;
	unsigned long last;
	struct maple_enode *node;
	unsigned long min;
	unsigned long max;
};

#define MAS_START	((struct maple_enode *)1UL)

void *mas_find(struct ma_state *mas, unsigned long max);

#endif
