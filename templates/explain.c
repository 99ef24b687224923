/*
 * References held for a reason, found before anything is changed. They
 * are "explained": a reset never removes them, and when every reference
 * is explained the helper refuses (ETXTBSY) unless force_real=1. Each is
 * found in the kernel's own complete lists, never in what user space
 * happens to show:
 *   - An open file whose file_operations belong to the target holds one
 *     reference, from fops_get() at open to the last fput(). Files are
 *     reached through the descriptor table of every thread (a leader that
 *     called pthread_exit() has none, a thread made without CLONE_FILES has
 *     its own) and through the mappings of every address space (a file
 *     mapped and then closed), and counted once each.
 *   - A superblock of one of the target's filesystem types holds one from
 *     mount to deactivate_locked_super(), mounted or not (umount -l, a
 *     detached mount). The types are the registered ones whose owner is the
 *     target (file_systems), their superblocks those on super_blocks; no
 *     list is exported, so their addresses come from /proc/kallsyms
 *     (fs_list=, fs_lock=, sb_lock=, super_blocks=) and are checked with
 *     sprint_symbol(). No superblock's s_umount is taken: a remount stuck
 *     inside the target's own code cannot hang the helper.
 * A kind of reference that could not be checked makes a real reset refuse
 * (ENODATA) unless unchecked_ok=1; a thread whose files are being released
 * right now (inside do_exit()) makes it refuse with EAGAIN.
 * Never seen from here: files in flight in a unix socket, in an epoll set
 * or in io_uring, a last fput() from a kernel thread, a superblock being
 * unmounted this very moment (before 3.3 and from 7.2.9), sockets of a
 * protocol the target registers, timers, work items and callbacks of other
 * code.
 *
 * The scan never dereferences the target's struct module: it compares
 * pointers with it, and reads the target's file_system_type objects only
 * while file_systems_lock keeps them registered. So it needs no reference
 * on the target, and runs also where try_module_get() would fail (a module
 * left GOING by a blocking rmmod, a count driven to 0).
 */
static int force_real;
module_param(force_real, int, 0444);
MODULE_PARM_DESC(force_real, "1: reset even references found to be real (open files, mappings, mounts)");

static int unchecked_ok;
module_param(unchecked_ok, int, 0444);
MODULE_PARM_DESC(unchecked_ok, "1: reset although a kind of reference could not be checked");

/* Kernel addresses from /proc/kallsyms: write-only (0), never shown in sysfs. */
static unsigned long fs_list;
module_param(fs_list, ulong, 0);
MODULE_PARM_DESC(fs_list, "address of file_systems (/proc/kallsyms), for the filesystem scan");

static unsigned long fs_lock;
module_param(fs_lock, ulong, 0);
MODULE_PARM_DESC(fs_lock, "address of file_systems_lock (/proc/kallsyms)");

static unsigned long frm_sb_lock;
module_param_named(sb_lock, frm_sb_lock, ulong, 0);
MODULE_PARM_DESC(sb_lock, "address of sb_lock (/proc/kallsyms)");

static unsigned long frm_super_blocks;
module_param_named(super_blocks, frm_super_blocks, ulong, 0);
MODULE_PARM_DESC(super_blocks, "address of super_blocks (/proc/kallsyms)");

/* What could not be checked: the bits of the unchecked parameter. */
#define FRM_UNCHECKED_FILES	0x1
#define FRM_UNCHECKED_MAPS	0x2
#define FRM_UNCHECKED_SUPERS	0x4

/* Open files are counted once each, however many descriptors share them. */
#define FRM_FILES 4096
/* Address spaces, each looked at once. */
#define FRM_MMS 2048
/* Waits of 20 ms for mmap locks taken by others, in all. */
#define FRM_MM_WAITS 10
/* Threads walked at most (an unbounded do_each_thread() can loop forever). */
#define FRM_THREADS (1 << 20)
/* Filesystem types of the target. */
#define FRM_TYPES 8

struct frm_mm {
	struct mm_struct *mm;
	pid_t pid;
	char comm[TASK_COMM_LEN];
};

struct frm_scan {
	const struct module *mod;
	const char *name;
	struct task_struct *task;
	bool frozen;
	const struct file *seen[FRM_FILES];
	char seen_refs[FRM_FILES];
	int files;
	int refs;
	int maps;
	int supers;
	int unchecked;
	struct frm_mm mms[FRM_MMS];
	int nr_mms;
	int busy_mms;
	int in_flux;
	pid_t flux_pid;
	int said;
	int types;
	const struct file_system_type *type[FRM_TYPES];
	char type_name[FRM_TYPES][32];
	int type_supers[FRM_TYPES];
	char path[256];
{%- if task_works %}
	char sym[KSYM_SYMBOL_LEN];
{%- endif %}
};

static struct frm_scan frm_scan;

/*
 * A string as one word of a protocol line: every byte outside '!'..'~',
 * and '\', written as \xHH; cut short to fit. Two words per line at
 * most, each in its own buffer (the helper runs once, in its init).
 */
static char frm_words[2][512];

static const char *frm_word(int i, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	char *buf = frm_words[i];
	size_t n = 0;

	for (; *s && n + 5 <= sizeof(frm_words[i]); s++) {
		unsigned char c = *s;

		if (c > ' ' && c < 0x7f && c != '\\') {
			buf[n++] = c;
			continue;
		}
		buf[n++] = '\\';
		buf[n++] = 'x';
		buf[n++] = hex[c >> 4];
		buf[n++] = hex[c & 15];
	}
	buf[n] = '\0';
	return buf;
}
{%- if recount %}
/* The same scan again with every CPU stopped, just before the update. */
static struct frm_scan frm_frozen;
{%- endif %}

/*
 * The references one open file holds on the target: one through its
 * file_operations (fops_get() at open, fops_put() in __fput()), and one
 * more for a character device whose cdev the target owns (cdev_get() in
 * chrdev_open(), cdev_put() in __fput()). An O_PATH file holds neither.
 * The inode is f_inode from 3.9 (what __fput() reads from 3.18 and in RHEL
 * 7; the dentry's, the same pointer, in 3.9 and 3.10), the dentry's before.
 */
static int frm_file_refs(const struct frm_scan *scan, const struct file *file)
{
{%- if f_inode %}
	const struct inode *inode = file->f_inode;
{%- else %}
	const struct inode *inode = file->f_path.dentry->d_inode;
{%- endif %}
	int refs = 0;

#ifdef FMODE_PATH
	if (file->f_mode & FMODE_PATH)
		return 0;
#endif
	if (file->f_op && file->f_op->owner == scan->mod)
		refs++;
	if (inode && S_ISCHR(inode->i_mode) && inode->i_cdev &&
	    inode->i_cdev->owner == scan->mod)
		refs++;
	return refs;
}

/*
 * A file that holds references on the target, counted once: its
 * references the first time it is seen, 0 after.
 */
static int frm_note_file(struct frm_scan *scan, const struct file *file)
{
	int i, refs = frm_file_refs(scan, file);

	if (!refs)
		return 0;
	for (i = 0; i < scan->files; i++)
		if (scan->seen[i] == file)
			return 0;
	if (scan->files == FRM_FILES) {
		scan->unchecked |= FRM_UNCHECKED_FILES;
		return 0;
	}
	scan->seen_refs[scan->files] = refs;
	scan->seen[scan->files++] = file;
	scan->refs += refs;
	return refs;
}

static const char *frm_path(struct frm_scan *scan, const struct file *file)
{
	char *path = d_path(&file->f_path, scan->path, sizeof(scan->path));

	return IS_ERR(path) ? "-" : path;
}

/*
 * Whether to name one more explained reference: the first FRM_SAY only.
 * They are printed under the file table's lock and RCU; thousands of
 * lines there would stall the CPU on a slow console and overwrite the
 * start of the log. The counts hold them all.
 */
#define FRM_SAY 32

static bool frm_say(struct frm_scan *scan)
{
	return !scan->frozen && scan->said++ < FRM_SAY;
}

static int frm_scan_fd(const void *arg, struct file *file, unsigned int fd)
{
	struct frm_scan *scan = (struct frm_scan *)arg;
	int refs = frm_note_file(scan, file);

	const char *path;

	if (!refs || !frm_say(scan))
		return 0;
	path = frm_path(scan, file);
	pr_warn("%s: explained: pid %d (%s) holds %s open (fd %u)%s\n",
		scan->name, task_pid_nr(scan->task), scan->task->comm,
		path, fd,
		refs > 1 ? ": 2 references, its file and its cdev" : "");
	pr_info("{{ protocol }} explained target=%s kind=file pid=%d fd=%u refs=%d comm=%s path=%s\n",
		scan->name, task_pid_nr(scan->task), fd, refs,
		frm_word(0, scan->task->comm), frm_word(1, path));
	return 0;
}
{%- if fd_walk == "iterate_fd" %}

/* One thread's descriptor table; called under its task_lock(). */
static void frm_scan_table(struct frm_scan *scan, struct files_struct *files)
{
	iterate_fd(files, 0, frm_scan_fd, scan);
}
{%- elif fd_walk == "fdtable" %}

/*
 * One thread's descriptor table, walked as __do_SAK() does on kernels
 * without iterate_fd(): under files->file_lock, called under task_lock().
 */
static void frm_scan_table(struct frm_scan *scan, struct files_struct *files)
{
	struct fdtable *fdt;
	unsigned int fd;

	spin_lock(&files->file_lock);
	fdt = files_fdtable(files);
	for (fd = 0; fd < fdt->max_fds; fd++) {
		struct file *file = fcheck_files(files, fd);

		if (file)
			frm_scan_fd(scan, file, fd);
	}
	spin_unlock(&files->file_lock);
}
{%- else %}

/*
 * No way to read a descriptor table: iterate_fd() is not exported (a
 * trimmed kernel) and fcheck_files() is gone (5.11).
 */
static void frm_scan_table(struct frm_scan *scan, struct files_struct *files)
{
	scan->unchecked |= FRM_UNCHECKED_FILES;
}
{%- endif %}

/*
 * Keep one reference on t's address space, each address space once. With
 * every CPU stopped none is taken (nothing can free it, and mmput() could
 * sleep): the pointer is enough.
 */
static void frm_keep_mm(struct frm_scan *scan, struct task_struct *t)
{
	struct mm_struct *mm;
	int i;

	task_lock(t);
	mm = t->mm;
	task_unlock(t);
	if (!mm)
		return;
	for (i = 0; i < scan->nr_mms; i++)
		if (scan->mms[i].mm == mm)
			return;
	if (scan->nr_mms == FRM_MMS) {
		scan->unchecked |= FRM_UNCHECKED_MAPS;
		return;
	}
	if (scan->frozen) {
		if (t->flags & PF_KTHREAD)
			return;
	} else {
		/* May return another mm after an exec: looked at all the same. */
		mm = get_task_mm(t);
		if (!mm)
			return;
	}
	scan->mms[scan->nr_mms].mm = mm;
	scan->mms[scan->nr_mms].pid = task_pid_nr(t);
	memcpy(scan->mms[scan->nr_mms].comm, t->comm, TASK_COMM_LEN);
	scan->nr_mms++;
}

/*
 * A thread whose references may be on their way out where no list shows
 * them: inside do_exit() before exit_notify(), its descriptor table already
 * closed and the last fput() of each file still to run.
 */
static bool frm_in_flux(struct task_struct *t)
{
	if (t == current || (t->flags & PF_KTHREAD))
		return false;
	return (t->flags & PF_EXITING) && !t->exit_state;
}

{%- if task_works %}

/*
 * A close() under way from 3.6: the descriptor is gone and the last fput()
 * waits as task work (____fput) until the thread returns to user space,
 * in no list the scan reads. Only looked at with every CPU stopped, when
 * the list cannot change under the walk; its last entry's next is NULL
 * (an exiting thread's work_exited included).
 */
static bool frm_closing(struct frm_scan *scan, struct task_struct *t)
{
	struct callback_head *work;

	for (work = t->task_works; work; work = work->next) {
		sprint_symbol(scan->sym, (unsigned long)work->func);
		if (!strncmp(scan->sym, "____fput+0x0/", 13))
			return true;
	}
	return false;
}
{%- endif %}

/* One thread: its descriptor table, under task_lock(), and its address space. */
static void frm_scan_thread(struct task_struct *t, void *arg)
{
	struct frm_scan *scan = arg;

	if (frm_in_flux(t)) {
		scan->in_flux++;
		scan->flux_pid = task_pid_nr(t);
	}
{%- if task_works %}
	if (scan->frozen && !(t->flags & PF_KTHREAD) && frm_closing(scan, t)) {
		scan->in_flux++;
		scan->flux_pid = task_pid_nr(t);
	}
{%- endif %}
	task_lock(t);
	if (t->files) {
		scan->task = t;
		frm_scan_table(scan, t->files);
	}
	task_unlock(t);
	frm_keep_mm(scan, t);
}

/*
 * Every thread, as __do_SAK() walks them, each passed to fn under
 * rcu_read_lock() (a task_struct stays valid under it; fn must not sleep).
 * for_each_process_thread() (3.14, back-ported to 3.10.65 and RHEL 7) is
 * safe under RCU alone; the older do_each_thread() can go round forever
 * when a group leader exits meanwhile, so that walk is bounded, and false
 * says it stopped before the end.
 */
static bool frm_each_thread(void (*fn)(struct task_struct *t, void *arg),
			    void *arg)
{
	struct task_struct *g, *t;
	bool whole = true;

	rcu_read_lock();
#ifdef for_each_process_thread
	for_each_process_thread(g, t)
		fn(t, arg);
#else
	{
		unsigned long n = 0;

		do_each_thread(g, t) {
			if (++n > FRM_THREADS) {
				whole = false;
				goto out;
			}
			fn(t, arg);
		} while_each_thread(g, t);
	}
out:
#endif
	rcu_read_unlock();
	return whole;
}

static void frm_count_thread_in_flux(struct task_struct *t, void *arg)
{
	*(int *)arg += frm_in_flux(t);
}

/* How many threads are in flux now. */
static int frm_count_in_flux(void)
{
	int n = 0;

	frm_each_thread(frm_count_thread_in_flux, &n);
	return n;
}

/*
 * An exit under way takes milliseconds: wait for those to settle, 20 ms at
 * a time and 1 s in all, before the scan; the scan still refuses if one is
 * left.
 */
static void frm_wait_settled(void)
{
	int waits;

	for (waits = 0; waits < 50 && frm_count_in_flux(); waits++)
		msleep(20);
}

/*
 * Every thread's descriptor table, under task_lock(). Address spaces are
 * only collected here (get_task_mm()): their mappings are read afterwards,
 * outside RCU, because that needs the mmap lock. A bounded walk is not a
 * complete one.
 */
static void frm_scan_threads(struct frm_scan *scan)
{
	if (!frm_each_thread(frm_scan_thread, scan))
		scan->unchecked |= FRM_UNCHECKED_FILES | FRM_UNCHECKED_MAPS;
}

static void frm_scan_vma(struct frm_scan *scan, struct frm_mm *m,
			 struct vm_area_struct *vma)
{
	const char *path;

	if (!vma->vm_file || !frm_note_file(scan, vma->vm_file))
		return;
	scan->maps++;
	if (!frm_say(scan))
		return;
	path = frm_path(scan, vma->vm_file);
	pr_warn("%s: explained: pid %d (%s) maps %s\n",
		scan->name, m->pid, m->comm, path);
	pr_info("{{ protocol }} explained target=%s kind=map pid=%d comm=%s path=%s\n",
		scan->name, m->pid, frm_word(0, m->comm), frm_word(1, path));
}

/*
 * The mappings of one address space, under its mmap lock (read). The
 * header decides, not the version (vendors back-port): the maple tree's
 * for_each_vma() from 6.1, the vm_next list before.
 */
static void frm_scan_vmas(struct frm_scan *scan, struct frm_mm *m)
{
#ifdef for_each_vma
	VMA_ITERATOR(vmi, m->mm, 0);
	struct vm_area_struct *vma;

	for_each_vma(vmi, vma)
		frm_scan_vma(scan, m, vma);
#else
	struct vm_area_struct *vma;

	for (vma = m->mm->mmap; vma; vma = vma->vm_next)
		frm_scan_vma(scan, m, vma);
#endif
}

/*
 * The mmap lock, an rw_semaphore: mm->mmap_lock from 5.8 (its header
 * defines MMAP_LOCK_INITIALIZER), mm->mmap_sem before. Taken directly: the
 * 5.8 wrappers add only tracepoints, whose static keys would give the
 * helper relocations (R_X86_64_PC64) that loaders before 5.x refuse.
 */
static inline int frm_mmap_trylock(struct mm_struct *mm)
{
#ifdef MMAP_LOCK_INITIALIZER
	return down_read_trylock(&mm->mmap_lock);
#else
	return down_read_trylock(&mm->mmap_sem);
#endif
}

static inline void frm_mmap_unlock(struct mm_struct *mm)
{
#ifdef MMAP_LOCK_INITIALIZER
	up_read(&mm->mmap_lock);
#else
	up_read(&mm->mmap_sem);
#endif
}

/*
 * A file mapped and then closed holds its reference through the mapping
 * alone. The mmap lock is only tried, with a few short waits in all: a
 * writer inside the target's own code must not hang the helper; an address
 * space that stays locked is reported as not checked. With every CPU
 * stopped it is tried once: a writer holding it was stopped half-way
 * through a change, which makes the count move, not unknown.
 */
static void frm_scan_maps(struct frm_scan *scan)
{
	int i, waits = 0;

	for (i = 0; i < scan->nr_mms; i++) {
		struct frm_mm *m = &scan->mms[i];
		bool locked;

		while (!(locked = frm_mmap_trylock(m->mm)) && !scan->frozen &&
		       waits < FRM_MM_WAITS) {
			waits++;
			msleep(20);
		}
		if (locked) {
			frm_scan_vmas(scan, m);
			frm_mmap_unlock(m->mm);
		} else if (scan->frozen && !(frm_scan.unchecked & FRM_UNCHECKED_MAPS)) {
			/* Its mappings are being changed: moving, not unknown. */
			scan->in_flux++;
			scan->flux_pid = m->pid;
		} else {
			scan->busy_mms++;
			scan->unchecked |= FRM_UNCHECKED_MAPS;
		}
	}
}

/*
 * Drop the address spaces the scan kept. mmput() may be the last
 * reference and tear the address space down (exit_mmap(), fput(), on old
 * kernels a driver's release() at once): never under module_mutex.
 */
static void frm_release_mms(void)
{
	struct frm_scan *scan = &frm_scan;
	int i;

	for (i = 0; i < scan->nr_mms; i++)
		mmput(scan->mms[i].mm);
	scan->nr_mms = 0;
}

/* addr must be exactly the start of the kernel symbol name. */
static bool frm_is_symbol(unsigned long addr, const char *name)
{
	char sym[KSYM_SYMBOL_LEN];
	size_t len = strlen(name);

	if (!addr)
		return false;
	sprint_symbol(sym, addr);
	return !strncmp(sym, name, len) && !strncmp(sym + len, "+0x0/", 5);
}

static void frm_note_type(struct frm_scan *scan, struct file_system_type *type)
{
	if (type->owner != scan->mod)
		return;
	if (scan->types == FRM_TYPES) {
		scan->unchecked |= FRM_UNCHECKED_SUPERS;
		return;
	}
	scan->type[scan->types] = type;
	snprintf(scan->type_name[scan->types], sizeof(scan->type_name[0]),
		 "%s", type->name);
	scan->types++;
}
{%- if fs_list_rcu %}

/* The registered types: an RCU hlist from 7.2 (unregister waits for readers). */
static void frm_find_types(struct frm_scan *scan)
{
	struct file_system_type *type;

	rcu_read_lock();
	hlist_for_each_entry_rcu(type, (struct hlist_head *)fs_list, list)
		frm_note_type(scan, type);
	rcu_read_unlock();
}
{%- else %}

/* The registered types, under file_systems_lock as __get_fs_type() reads them. */
static void frm_find_types(struct frm_scan *scan)
{
	struct file_system_type *type;
	rwlock_t *types_lock = (rwlock_t *)fs_lock;

	read_lock(types_lock);
	for (type = *(struct file_system_type **)fs_list; type; type = type->next)
		frm_note_type(scan, type);
	read_unlock(types_lock);
}
{%- endif %}

/*
 * The superblocks of the target's types, mounted or not: every one on
 * super_blocks, under sb_lock, whose s_type is one of them (compared, never
 * dereferenced). From 3.3 on a superblock leaves type->fs_supers while the
 * target's kill_sb() still runs and before put_filesystem() drops its
 * reference, but stays on super_blocks until its last reference, after
 * that: one being torn down is counted even after it let go, the safe
 * side (rmmod then says busy). Before 3.3 both lists are left inside
 * kill_sb(), and from 7.2.9 super_blocks is left just before
 * put_filesystem(): a superblock being unmounted at this very moment is
 * not seen there (see "never seen" above).
 */
static void frm_scan_supers(struct frm_scan *scan)
{
	struct list_head *supers = (struct list_head *)frm_super_blocks;
	spinlock_t *supers_lock = (spinlock_t *)frm_sb_lock;
	struct super_block *sb;
	int i;

	frm_find_types(scan);
	if (!scan->types)
		return;
	spin_lock(supers_lock);
	list_for_each_entry(sb, supers, s_list) {
		for (i = 0; i < scan->types; i++) {
			if (sb->s_type == scan->type[i]) {
				scan->type_supers[i]++;
				scan->supers++;
			}
		}
	}
	spin_unlock(supers_lock);
}

/* The addresses of the lists the filesystem scan reads are those symbols. */
static bool frm_fs_anchors(void)
{
	return frm_is_symbol(fs_list, "file_systems") &&
{%- if not fs_list_rcu %}
	       frm_is_symbol(fs_lock, "file_systems_lock") &&
{%- endif %}
	       frm_is_symbol(frm_sb_lock, "sb_lock") &&
	       frm_is_symbol(frm_super_blocks, "super_blocks");
}

/* What a scan found becomes the job's. */
static void frm_take_counts(struct frm_job *job, const struct frm_scan *scan)
{
	job->files = scan->files - scan->maps;
	job->maps = scan->maps;
	job->supers = scan->supers;
	job->unchecked = scan->unchecked;
	job->in_flux = scan->in_flux;
	job->flux_pid = scan->flux_pid;
	job->explained = scan->refs + scan->supers;
}

/*
 * Find the references held for a reason. Runs in process context before
 * any change{% if module_mutex %}, with module_mutex held: no module can be
 * loaded or freed meanwhile{% else %}; mod is only compared with, never
 * dereferenced (see above){% endif %}.
 */
static void frm_explain(struct frm_job *job, const struct module *mod)
{
	struct frm_scan *scan = &frm_scan;
	int i;

	memset(scan, 0, sizeof(*scan));
	scan->mod = mod;
	scan->name = job->name;
	frm_wait_settled();
	frm_scan_threads(scan);
	frm_scan_maps(scan);
	job->fs_anchors = frm_fs_anchors();
	if (job->fs_anchors)
		frm_scan_supers(scan);
	else
		scan->unchecked |= FRM_UNCHECKED_SUPERS;
	for (i = 0; i < scan->types; i++) {
		pr_warn("%s: explained: filesystem %s, %d superblock(s) alive\n",
			job->name, scan->type_name[i], scan->type_supers[i]);
		pr_info("{{ protocol }} explained target=%s kind=fs fstype=%s supers=%d\n",
			job->name, frm_word(0, scan->type_name[i]),
			scan->type_supers[i]);
	}
	if (scan->said > FRM_SAY) {
		pr_warn("%s: explained: %d more files and mappings, not named\n",
			job->name, scan->said - FRM_SAY);
		pr_info("{{ protocol }} explained target=%s kind=more count=%d\n",
			job->name, scan->said - FRM_SAY);
	}
	if (scan->unchecked & FRM_UNCHECKED_FILES)
		pr_warn("%s: not checked: open files beyond the first %d\n",
			job->name, FRM_FILES);
	if (scan->unchecked & FRM_UNCHECKED_MAPS)
		pr_warn("%s: not checked: mappings of %d address space(s) whose mmap lock stayed taken, or beyond the first %d\n",
			job->name, scan->busy_mms, FRM_MMS);
	if (scan->unchecked & FRM_UNCHECKED_SUPERS)
		pr_warn("%s: not checked: filesystems (fs_list=, fs_lock=, sb_lock=, super_blocks= missing, not those symbols in /proc/kallsyms, or too many types)\n",
			job->name);
	frm_take_counts(job, scan);
}

{%- if recount %}

/*
 * Whether a file or superblock the first scan saw is not there any more:
 * on its way out (a close() or munmap() under way, an exec dropping the
 * old address space) it still holds its reference where no list shows it.
 * The update must not take that one for a leak: the count is moving.
 * Files are compared as pointers, with the references each held: a file
 * freed meanwhile may have left its memory to another one; fewer
 * references in all is a departure too.
 */
static bool frm_went_away(const struct frm_scan *frozen)
{
	const struct frm_scan *first = &frm_scan;
	int i, j;

	if (frozen->supers < first->supers || frozen->refs < first->refs)
		return true;
	for (i = 0; i < first->files; i++) {
		for (j = 0; j < frozen->files; j++)
			if (frozen->seen[j] == first->seen[i] &&
			    frozen->seen_refs[j] == first->seen_refs[i])
				break;
		if (j == frozen->files)
			return true;
	}
	return false;
}

/*
 * The scan again, with every CPU stopped, just before the update. What
 * frm_explain() printed was seen over many milliseconds, while a reference
 * can move from one holder to another (a process exits, the next one opens
 * the device) and leave the count as it was: the update would then take
 * the new holder's reference for a leak. With every CPU stopped nothing
 * moves; a holder the first scan saw and this one does not is on its way
 * out, and the update refuses (EAGAIN). Still unseen: an open() between
 * its reference and its descriptor, and what "never seen" lists. Spinlocks
 * only (never on PREEMPT_RT, where they sleep), the mmap lock only tried,
 * nothing printed; the filesystem anchors were checked by the first scan.
 */
static void frm_recount(struct frm_job *job)
{
	struct frm_scan *scan = &frm_frozen;
	int explained = job->explained;

	memset(scan, 0, sizeof(*scan));
	scan->mod = job->mod;
	scan->name = job->name;
	scan->frozen = true;
	frm_scan_threads(scan);
	frm_scan_maps(scan);
	if (job->fs_anchors)
		frm_scan_supers(scan);
	else
		scan->unchecked |= FRM_UNCHECKED_SUPERS;
	job->moved = scan->refs + scan->supers != explained;
	if (frm_went_away(scan)) {
		/* Named by flux_pid 0: no thread to name. */
		scan->in_flux++;
		scan->flux_pid = 0;
	}
	frm_take_counts(job, scan);
}
{%- endif %}
