/* force-rmmod-gen test tree: <linux/spinlock.h> up to 2.6.32 (checked
 * 2.6.28.6, 2.6.32): spinlock_t and rwlock_t wrap the arch lock directly,
 * spin_lock()/read_lock() are macros around the exported _spin_lock()/
 * _read_lock().  The unlocks are kept out of line here too (_spin_unlock,
 * _read_unlock), as 2.6.28 has them; configurations inline some of them. */
#ifndef __LINUX_SPINLOCK_H
#define __LINUX_SPINLOCK_H

#include <linux/compiler.h>
#include <linux/preempt.h>

typedef struct {
	volatile unsigned int slock;
} raw_spinlock_t;

typedef struct {
	volatile unsigned int lock;
} raw_rwlock_t;

typedef struct {
	raw_spinlock_t raw_lock;
} spinlock_t;

typedef struct {
	raw_rwlock_t raw_lock;
} rwlock_t;

void _spin_lock(spinlock_t *lock);
void _spin_unlock(spinlock_t *lock);
void _read_lock(rwlock_t *lock);
void _read_unlock(rwlock_t *lock);

#define spin_lock(lock)		_spin_lock(lock)
#define spin_unlock(lock)	_spin_unlock(lock)
#define read_lock(lock)		_read_lock(lock)
#define read_unlock(lock)	_read_unlock(lock)

#endif
