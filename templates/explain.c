/*
 * References held for a reason, found before anything is changed. They
 * are "explained": a reset never removes them, and when every reference
 * is explained the helper refuses (ETXTBSY) unless force_real=1.
 *   - An open file whose file_operations belong to the target holds one
 *     reference, from fops_get() at open to the last fput(){% if not files_check %}: not checked,
 *     this kernel does not export iterate_fd(){% endif %}.
 *   - A superblock of one of the target's filesystem types holds one,
 *     from get_fs_type() at mount to its end{% if not supers_check %}: not checked, this
 *     kernel does not export get_fs_type() and iterate_supers_type(){% endif %}.
 * Not visible from here: sockets of a protocol the target registers,
 * mappings of files already closed, and timers, work items or callbacks
 * of other code that hold a reference without a back-pointer.
 */
static char *fstypes = "";
module_param(fstypes, charp, 0444);
MODULE_PARM_DESC(fstypes, "filesystem types mounted anywhere (from /proc/*/mountinfo), comma-separated");

static int force_real;
module_param(force_real, int, 0444);
MODULE_PARM_DESC(force_real, "1: reset even references found to be real (open files, mounts)");

/* Open files are counted once each, however many descriptors share them. */
#define FRM_FILES 512

struct frm_scan {
	struct module *mod;
	struct task_struct *task;
	const struct file *seen[FRM_FILES];
	int files;
	int supers;
	bool overflow;
	char path[256];
};

static struct frm_scan frm_scan;
{%- if files_check %}

static int frm_scan_file(const void *arg, struct file *file, unsigned int fd)
{
	struct frm_scan *scan = (struct frm_scan *)arg;
	char *path;
	int i;

	if (!file->f_op || file->f_op->owner != scan->mod)
		return 0;
	for (i = 0; i < scan->files && i < FRM_FILES; i++)
		if (scan->seen[i] == file)
			return 0;
	if (scan->files == FRM_FILES) {
		scan->overflow = true;
		return 0;
	}
	scan->seen[scan->files++] = file;
	path = d_path(&file->f_path, scan->path, sizeof(scan->path));
	pr_warn("%s: explained: pid %d (%s) holds %s open (fd %u)\n",
		scan->mod->name, task_pid_nr(scan->task), scan->task->comm,
		IS_ERR(path) ? "a file" : path, fd);
	return 0;
}

/* Every process's open files, each process under its task_lock(). */
static void frm_scan_files(struct frm_scan *scan)
{
	struct task_struct *p;

	rcu_read_lock();
	for_each_process(p) {
		task_lock(p);
		if (p->files) {
			scan->task = p;
			iterate_fd(p->files, 0, frm_scan_file, scan);
		}
		task_unlock(p);
	}
	rcu_read_unlock();
}
{%- endif %}
{%- if supers_check %}

static void frm_scan_super(struct super_block *sb, void *arg)
{
	struct frm_scan *scan = arg;

	scan->supers++;
}

/*
 * The mounted types named by fstypes= that belong to the target, and their
 * superblocks. The names come from mount tables, so they are registered
 * and get_fs_type() loads nothing; it takes a reference on the type's
 * owner, given back at once. The target is pinned by the caller meanwhile.
 */
static void frm_scan_supers(struct frm_scan *scan)
{
	static char types[1024];
	char *rest = types, *name;

	snprintf(types, sizeof(types), "%s", fstypes);
	while ((name = strsep(&rest, ",")) != NULL) {
		struct file_system_type *type;
		int before = scan->supers;

		if (!*name)
			continue;
		type = get_fs_type(name);
		if (!type)
			continue;
		if (type->owner == scan->mod) {
			iterate_supers_type(type, frm_scan_super, scan);
			pr_warn("%s: explained: filesystem %s, %d superblock(s) mounted\n",
				scan->mod->name, name, scan->supers - before);
		}
		module_put(type->owner);
	}
}
{%- endif %}

/*
 * Find the references held for a reason. Runs in process context, before
 * any change, with the target pinned (try_module_get) by the caller.
 */
static void frm_explain(struct frm_job *job, struct module *mod)
{
	struct frm_scan *scan = &frm_scan;

	scan->mod = mod;
{%- if files_check %}
	frm_scan_files(scan);
{%- else %}
	pr_warn("%s: not checked: open files (this kernel does not export iterate_fd())\n",
		job->name);
{%- endif %}
{%- if supers_check %}
	if (*fstypes)
		frm_scan_supers(scan);
{%- else %}
	pr_warn("%s: not checked: mounted filesystems (this kernel does not export get_fs_type()/iterate_supers_type())\n",
		job->name);
{%- endif %}
	if (scan->overflow)
		pr_warn("%s: more than %d open files: only those are counted as explained\n",
			job->name, FRM_FILES);
	job->explained = scan->files + scan->supers;
}
