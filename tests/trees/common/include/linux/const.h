/* force-rmmod-gen test tree: the _AC() helper of <linux/const.h>. */
#ifndef _LINUX_CONST_H
#define _LINUX_CONST_H

#define __AC(X, Y)	(X##Y)
#define _AC(X, Y)	__AC(X, Y)

#endif
