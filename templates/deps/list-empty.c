/*
 * Modules using the target hang off mod->{{ deps_field }}. Its entries are
 * removed with list_del() and kfree() under module_mutex, which this kernel
 * does not export: they can be freed while we look, so, as delete_module()
 * does, only the list's emptiness is tested. The users cannot be counted,
 * so their references cannot be kept by a reset: they must go first.
 */
#define FRM_USERS_COUNTED 0

static int frm_count_users(struct module *mod)
{
	return !list_empty(&mod->{{ deps_field }});
}

static void frm_name_users(struct frm_job *job)
{
	pr_warn("%s has users, see /sys/module/%s/holders\n",
		job->name, job->name);
}
