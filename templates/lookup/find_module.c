/*
 * Lookup: this kernel exports find_module() and module_mutex, so the target
 * is found and examined with module_mutex held, as delete_module() does:
 * nothing can load or remove a module meanwhile. Caller holds module_mutex.
 */
static struct module *frm_find(struct frm_job *job)
{
	struct module *mod = find_module(job->name);

	if (!mod)
		frm_refuse(job, -ENOENT, FRM_NOT_FOUND);
	return mod;
}
