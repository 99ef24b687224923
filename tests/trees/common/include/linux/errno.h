/* force-rmmod-gen test tree: minimal <linux/errno.h>. */
#ifndef _LINUX_ERRNO_H
#define _LINUX_ERRNO_H

#include <asm-generic/errno-base.h>

#define EDEADLK		35
#define ENAMETOOLONG	36
#define ENOLCK		37
#define ENOSYS		38
#define ENOTEMPTY	39
#define ELOOP		40
#define EWOULDBLOCK	EAGAIN
#define ENODATA		61
#define EPROTO		71
#define EOVERFLOW	75
#define EOPNOTSUPP	95
#define ETIMEDOUT	110
#define EALREADY	114
#define EINPROGRESS	115
#define ESTALE		116
#define ECANCELED	125
#define ERESTARTSYS	512
#define ENOTSUPP	524

#endif
