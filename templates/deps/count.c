/*
 * Modules using the target hang off mod->{{ deps_field }}, through entries
 * whose type this kernel keeps private:
 * {{ deps_kernels }}.
 * The list is changed only under module_mutex, which is held here: the
 * entries are counted without reading past the list links;
 * /sys/module/NAME/holders names them.
 */
#define FRM_USERS_COUNTED 1

static int frm_count_users(struct module *mod)
{
	struct list_head *pos;
	int users = 0;

	list_for_each(pos, &mod->{{ deps_field }})
		users++;
	return users;
}

static void frm_name_users(struct frm_job *job)
{
	pr_warn("%s has %d user(s), see /sys/module/%s/holders\n",
		job->name, job->users, job->name);
}
