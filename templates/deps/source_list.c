/*
 * Modules using the target hang off mod->source_list (2.6.35 and later).
 * The list is changed only under module_mutex, which is held here, so its
 * entries can be counted and named.
 */
#define FRM_USERS_COUNTED 1

static int frm_count_users(struct module *mod)
{
	struct module_use *use;
	int users = 0;

	list_for_each_entry(use, &mod->source_list, source_list)
		users++;
	return users;
}

static void frm_name_users(struct frm_job *job)
{
	struct module_use *use;

	list_for_each_entry(use, &job->mod->source_list, source_list) {
		pr_warn("%s is used by %s\n", job->name, use->source->name);
		pr_info("{{ protocol }} user target=%s module=%s\n",
			job->name, use->source->name);
	}
}
