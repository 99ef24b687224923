/* force-rmmod-gen test tree: minimal <linux/delay.h>: msleep(), exported
 * (EXPORT_SYMBOL) from kernel/timer.c (kernel/time/timer.c from 3.16). */
#ifndef _LINUX_DELAY_H
#define _LINUX_DELAY_H

void msleep(unsigned int msecs);

#endif
