/* force-rmmod-gen test tree: minimal <linux/stat.h> (the file type bits,
 * include/uapi/linux/stat.h from 3.7, include/linux/stat.h before). */
#ifndef _LINUX_STAT_H
#define _LINUX_STAT_H

#define S_IFMT  00170000
#define S_IFCHR  0020000
#define S_ISCHR(m)	(((m) & S_IFMT) == S_IFCHR)

#endif
