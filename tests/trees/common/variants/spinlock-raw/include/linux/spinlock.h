/* force-rmmod-gen test tree: <linux/spinlock.h> from 2.6.33 (checked 2.6.34,
 * 3.18, RHEL 7's 3.10, 6.1): spinlock_t wraps a raw_spinlock (rlock),
 * spin_lock() is an inline around raw_spin_lock() -> the exported
 * _raw_spin_lock(), read_lock() a macro around _raw_read_lock().  The unlocks
 * are kept out of line here (_raw_spin_unlock, _raw_read_unlock, exported
 * by RHEL 7 and 6.x); some configurations inline them. */
#ifndef __LINUX_SPINLOCK_H
#define __LINUX_SPINLOCK_H

#include <linux/compiler.h>
#include <linux/preempt.h>

typedef struct raw_spinlock {
	volatile unsigned int slock;
} raw_spinlock_t;

typedef struct spinlock {
	struct raw_spinlock rlock;
} spinlock_t;

typedef struct {
	volatile unsigned int lock;
} rwlock_t;

void _raw_spin_lock(raw_spinlock_t *lock);
void _raw_spin_unlock(raw_spinlock_t *lock);
void _raw_read_lock(rwlock_t *lock);
void _raw_read_unlock(rwlock_t *lock);

#define raw_spin_lock(lock)	_raw_spin_lock(lock)
#define raw_spin_unlock(lock)	_raw_spin_unlock(lock)
#define read_lock(lock)		_raw_read_lock(lock)
#define read_unlock(lock)	_raw_read_unlock(lock)

static inline void spin_lock(spinlock_t *lock)
{
	raw_spin_lock(&lock->rlock);
}

static inline void spin_unlock(spinlock_t *lock)
{
	raw_spin_unlock(&lock->rlock);
}

#endif
